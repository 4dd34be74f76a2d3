// Package access says who may call Courier and what each caller may do to a
// message.
//
// An API key is an identity: a name, its roles (producer, consumer, admin)
// and the topics it may produce to or consume from. A producer's messages
// carry its name, and only it (or an admin) may confirm or cancel them; a
// consumer completes only messages of its topics, and only those that name
// it when they name their consumers. Keys are configured by their SHA-256,
// so the configuration holds no secret, and an identity may have two keys at
// once while one replaces the other.
//
// The package knows nothing of HTTP: the gateway authenticates a request to
// an Identity, asks the rules here, and turns a *Refusal into 401 or 403,
// or, for a message the key may not see (Refusal.Hidden), into the 404 of an
// unknown id.
package access
