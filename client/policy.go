package client

import "github.com/courier-mq/courier/client/wire"

// Policy is a message's own timing; zero fields keep the gateway's default
// (wire.DefaultTiming, the timing of a gateway whose defaults were not
// changed). It is the server's own type, so that CheckSpan and ResendSpan,
// which the producer and the consumer size their rows' retention by, are
// the workflow's formula.
type Policy = wire.Timing
