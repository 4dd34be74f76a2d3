package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/courier-mq/courier/client/conformance/protocol"
)

// Scenario is one case of the specification, read from scenarios/*.json.
// README.md describes the format.
type Scenario struct {
	Name string `json:"name"`
	Doc  string `json:"doc"`
	// Side is "producer" (the default: run for every mode and isolation)
	// or "consumer" (run once per database).
	Side string `json:"side,omitempty"`
	// Databases limits the scenario to these; empty is all three.
	Databases []string `json:"databases,omitempty"`
	// FoundRows opens every adapter with found_rows: MySQL connections
	// with the CLIENT_FOUND_ROWS flag. Only for scenarios on mysql.
	FoundRows bool `json:"found_rows,omitempty"`
	// Partitions, when set, has the runner create the scenario's topic
	// with that many partitions before the steps; otherwise the broker
	// creates it on first use with its default.
	Partitions int32  `json:"partitions,omitempty"`
	Steps      []Step `json:"steps"`
	// Effects are the calls whose business transaction must have
	// committed; every other call's must not have.
	Effects []string `json:"effects"`
	// MayCommit are calls that may commit or not, as a race decides; the
	// invariants still hold them to their outcomes.
	MayCommit []string `json:"may_commit,omitempty"`
	// BarrierRows and DedupeRows are message ids that must each have a
	// row of exactly that id in the producer's barrier table and the
	// consumers' dedupe table.
	BarrierRows []string `json:"barrier_rows,omitempty"`
	DedupeRows  []string `json:"dedupe_rows,omitempty"`
	// Consumed maps a consumer name to the sends each consumer must have
	// applied exactly once, and whose messages must end COMPLETED.
	Consumed map[string][]string `json:"consumed,omitempty"`
	// GroupOffsets are consumer names whose group must end with a
	// committed offset at the end of every partition of the topic.
	GroupOffsets []string `json:"group_offsets,omitempty"`
}

// Step is one thing the runner does; Do says which and README.md lists
// them with their fields.
type Step struct {
	Do string `json:"do"`
	// Only limits the step to these databases.
	Only []string `json:"only,omitempty"`
	// Adapter names the adapter the step talks to; default "a".
	Adapter string `json:"adapter,omitempty"`

	Ref      string            `json:"ref,omitempty"`
	ID       string            `json:"id,omitempty"`
	Message  *protocol.Message `json:"message,omitempty"`
	Reuse    string            `json:"reuse,omitempty"`
	Business []BusinessStep    `json:"business,omitempty"`
	Outcome  oneOf             `json:"outcome,omitempty"`

	Gate      string `json:"gate,omitempty"`
	As        string `json:"as,omitempty"`
	TimeoutMS int    `json:"timeout_ms,omitempty"`
	Answer    oneOf  `json:"answer,omitempty"`
	Count     int    `json:"count,omitempty"`

	Path   string `json:"path,omitempty"`
	Action string `json:"action,omitempty"`

	Retention string `json:"retention,omitempty"`

	Tx   string `json:"tx,omitempty"`
	SQL  string `json:"sql,omitempty"`
	Args []any  `json:"args,omitempty"`

	Duplicate bool     `json:"duplicate,omitempty"`
	Name      string   `json:"name,omitempty"`
	Fail      []string `json:"fail,omitempty"`
	FailSends int      `json:"fail_sends,omitempty"`
	Attempts  int      `json:"attempts,omitempty"`
}

// BusinessStep is a step of a transaction's business as the scenario
// writes it: Only limits it to some databases, and the SQL "@connection_id"
// stands for the query of the database's id of the connection (what the
// runner kills).
type BusinessStep struct {
	protocol.TxStep
	Only []string `json:"only,omitempty"`
}

// oneOf is a JSON string or list of strings: the acceptable values.
type oneOf []string

func (o *oneOf) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*o = oneOf{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*o = l
	return nil
}

func (o oneOf) allows(v string) bool { return len(o) == 0 || slices.Contains(o, v) }

// Load reads every scenario in dir's *.json files, each a list of
// scenarios, sorted by name; names must be unique.
func Load(dir string) ([]Scenario, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var all []Scenario
	seen := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var list []Scenario
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&list); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, s := range list {
			if prev, ok := seen[s.Name]; ok || s.Name == "" {
				return nil, fmt.Errorf("%s: scenario %q has no name or is also in %s", f, s.Name, prev)
			}
			seen[s.Name] = f
			all = append(all, s)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	return all, nil
}

// RunsOn reports whether the scenario is for database db.
func (s Scenario) RunsOn(db string) bool {
	return len(s.Databases) == 0 || slices.Contains(s.Databases, db)
}

// readsKafka reports whether the runner needs its own look at the broker
// for the scenario: to create its topic or to read its consumer group.
func (s Scenario) readsKafka() bool {
	if s.Partitions > 0 || len(s.GroupOffsets) > 0 {
		return true
	}
	return slices.ContainsFunc(s.Steps, func(st Step) bool { return st.Do == "wait_group" })
}
