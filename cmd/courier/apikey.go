package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/courier-mq/courier/access"
)

const apikeyUsage = `Usage:
  courier apikey new -name NAME -roles ROLES [-topics TOPICS]
      make a new random key; print it, and the COURIER_API_KEYS entry that
      holds only its hash. ROLES: producer, consumer, admin joined by +.
      TOPICS: topic names, prefix.* or *, joined by + (not for admin).
  courier apikey hash < keys
      print the sha256:<hex> form of each key read from standard input, one
      per line, to put an existing key in COURIER_API_KEYS without its secret.
`

// runAPIKey runs `courier apikey`: the key management that needs no server.
func runAPIKey(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, apikeyUsage)
		return 2
	}
	switch args[0] {
	case "new":
		return newAPIKey(args[1:], stdout, stderr)
	case "hash":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "courier apikey hash: unexpected arguments %v: it reads the keys from standard input\n", args[1:])
			return 2
		}
		if err := hashAPIKeys(stdin, stdout); err != nil {
			fmt.Fprintf(stderr, "courier apikey hash: %v\n", err)
			return 1
		}
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stderr, apikeyUsage)
		return 0
	}
	fmt.Fprintf(stderr, "courier apikey: unknown command %q\n\n%s", args[0], apikeyUsage)
	return 2
}

func newAPIKey(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("courier apikey new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "the identity: producer name of its messages, consumer name of its completions")
	roles := fs.String("roles", "", "producer, consumer or admin, joined by +")
	topics := fs.String("topics", "", "topic names, prefix.* or *, joined by + (required unless admin)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	secret := access.NewSecret()
	entry := access.Hash(secret) + ":" + *name + ":" + *roles
	if *topics != "" {
		entry += ":" + *topics
	}
	keys, err := access.ParseKeys(entry)
	if err == nil {
		err = access.Validate(keys)
	}
	if err != nil {
		fmt.Fprintln(stderr, "courier apikey new:")
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "  - %s\n", strings.TrimPrefix(line, `API key 1 (`+fmt.Sprintf("%q", *name)+`): `))
		}
		return 2
	}
	fmt.Fprintf(stdout, "key    %s\nentry  %s\n", secret, entry)
	fmt.Fprintln(stderr, "Give the key to the service now: it is not stored anywhere. Add the entry to COURIER_API_KEYS (comma-separated).")
	return 0
}

func hashAPIKeys(stdin io.Reader, stdout io.Writer) error {
	sc := bufio.NewScanner(stdin)
	n := 0
	for sc.Scan() {
		key := strings.TrimSpace(sc.Text())
		if key == "" {
			continue
		}
		n++
		fmt.Fprintln(stdout, access.Hash(key))
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if n == 0 {
		return errors.New("no key on standard input")
	}
	return nil
}
