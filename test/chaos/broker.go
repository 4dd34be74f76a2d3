package chaos

import (
	"errors"
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/courier-mq/courier/internal/freeport"
)

// Broker is a one-node kfake Kafka broker, persisted to a data directory,
// that every client reaches through a fault Proxy.
//
// A Kafka client dials its seed broker only to learn the cluster's metadata,
// then connects to the host and port each broker advertises. kfake advertises
// the address of its own listener, which would route clients around the
// proxy. kfake.ListenFn lets us hand it the listener, so we hand it one whose
// Addr() reports the proxy's address: the broker listens on its own port and
// advertises the proxy's, and every connection, seed or not, goes through
// the proxy.
type Broker struct {
	// Proxy stands between every client and the broker.
	Proxy *Proxy

	dataDir    string
	port       int // the broker's real port, kept across restarts
	topics     []string
	partitions int32
	cluster    *kfake.Cluster
	restarts   int
}

// StartBroker starts a broker persisted to dataDir with topics of partitions
// partitions each, behind a new proxy.
func StartBroker(dataDir string, topics []string, partitions int32) (*Broker, error) {
	port, err := freeport.Port("127.0.0.1")
	if err != nil {
		return nil, err
	}
	proxy, err := NewProxy(fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, err
	}
	b := &Broker{Proxy: proxy, dataDir: dataDir, port: port, topics: topics, partitions: partitions}
	if err := b.start(); err != nil {
		_ = proxy.Close()
		return nil, err
	}
	return b, nil
}

// Addr is the broker's address for clients: the proxy's.
func (b *Broker) Addr() string { return b.Proxy.Addr() }

// Restarts counts the calls to Restart.
func (b *Broker) Restarts() int { return b.restarts }

// Restart stops the broker, which writes its state to the data directory, and
// starts it again from there on the same port.
func (b *Broker) Restart() error {
	b.cluster.Close()
	b.restarts++
	return b.start()
}

// Close stops the broker and its proxy.
func (b *Broker) Close() {
	b.cluster.Close()
	_ = b.Proxy.Close()
}

func (b *Broker) start() error {
	advertised, err := net.ResolveTCPAddr("tcp", b.Proxy.Addr())
	if err != nil {
		return fmt.Errorf("resolve proxy address %s: %w", b.Proxy.Addr(), err)
	}
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(b.port),
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			ln, err := net.Listen(network, address)
			if err != nil {
				return nil, err
			}
			return advertisingListener{Listener: ln, addr: advertised}, nil
		}),
		kfake.DataDir(b.dataDir),
		kfake.SyncWrites(),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(int(b.partitions)),
	)
	if err != nil {
		return fmt.Errorf("start kafka on port %d from %s: %w", b.port, b.dataDir, err)
	}
	for _, topic := range b.topics {
		if err := cluster.CreateTopic(topic, b.partitions, nil); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			cluster.Close()
			return fmt.Errorf("create topic %s: %w", topic, err)
		}
	}
	b.cluster = cluster
	return nil
}

// advertisingListener is a broker's listener that reports another address,
// the one kfake then advertises in its metadata.
type advertisingListener struct {
	net.Listener
	addr net.Addr
}

// Addr is the advertised address, not the bound one.
func (l advertisingListener) Addr() net.Addr { return l.addr }
