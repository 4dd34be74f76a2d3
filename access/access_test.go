package access

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseKeys(t *testing.T) {
	h := Hash("a-secret-of-the-orders-svc")
	keys, err := ParseKeys(" " + h + ":orders:producer:orders+orders.* , plain-secret-0123456789:ops:admin,k3y-0f-accounting-svc:accounting:consumer+producer:* ")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 {
		t.Fatalf("got %d keys", len(keys))
	}
	if keys[0].SHA256 != strings.TrimPrefix(h, "sha256:") || keys[0].Secret != "" || keys[0].Name != "orders" ||
		len(keys[0].Roles) != 1 || keys[0].Roles[0] != Producer || strings.Join(keys[0].Topics, "+") != "orders+orders.*" {
		t.Fatalf("first key: %+v", keys[0])
	}
	if keys[1].Secret != "plain-secret-0123456789" || keys[1].Topics != nil {
		t.Fatalf("second key: %+v", keys[1])
	}
	if len(keys[2].Roles) != 2 || keys[2].Topics[0] != "*" {
		t.Fatalf("third key: %+v", keys[2])
	}
	if err := Validate(keys); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"just-a-key", "k:n", "a:b:c:d:e", "sha256:abc:n:producer:x:y"} {
		if _, err := ParseKeys(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	secret := "0123456789abcdef-secret"
	cases := []struct {
		name string
		keys []Key
		want []string
	}{
		{"short", []Key{{Secret: "short", Name: "a", Roles: []Role{Admin}}}, []string{"at least 16"}},
		{"both", []Key{{Secret: secret, SHA256: "ab", Name: "a", Roles: []Role{Admin}}}, []string{"not both"}},
		{"none", []Key{{Name: "a", Roles: []Role{Admin}}}, []string{"is required"}},
		{"bad hash", []Key{{SHA256: "XYZ", Name: "a", Roles: []Role{Admin}}}, []string{"64 lowercase hex"}},
		{"upper hash", []Key{{SHA256: strings.ToUpper(Hash(secret)[7:]), Name: "a", Roles: []Role{Admin}}}, []string{"64 lowercase hex"}},
		{"same key", []Key{{Secret: secret, Name: "a", Roles: []Role{Admin}}, {SHA256: Hash(secret)[7:], Name: "b", Roles: []Role{Admin}}}, []string{"same key as API key 1"}},
		{"bad name", []Key{{Secret: secret, Name: "a b", Roles: []Role{Admin}}}, []string{"name must be"}},
		{"no role", []Key{{Secret: secret, Name: "a"}}, []string{"at least one role"}},
		{"bad role", []Key{{Secret: secret, Name: "a", Roles: []Role{"root"}, Topics: []string{"*"}}}, []string{`unknown role "root"`}},
		{"twice", []Key{{Secret: secret, Name: "a", Roles: []Role{Producer, Producer}, Topics: []string{"*"}}}, []string{"given twice"}},
		{"no topics", []Key{{Secret: secret, Name: "a", Roles: []Role{Producer}}}, []string{"needs the topics"}},
		{"admin topics", []Key{{Secret: secret, Name: "a", Roles: []Role{Admin}, Topics: []string{"x"}}}, []string{"admin key may use every topic"}},
		{"bad grant", []Key{{Secret: secret, Name: "a", Roles: []Role{Consumer}, Topics: []string{"a*"}}}, []string{`topic grant "a*"`}},
		{"star not alone", []Key{{Secret: secret, Name: "a", Roles: []Role{Consumer}, Topics: []string{"*", "x"}}}, []string{"give it alone"}},
		{"three keys", []Key{
			{Secret: secret + "1", Name: "a", Roles: []Role{Admin}},
			{Secret: secret + "2", Name: "a", Roles: []Role{Admin}},
			{Secret: secret + "3", Name: "a", Roles: []Role{Admin}},
		}, []string{"has 3 keys"}},
		{"rotation disagrees", []Key{
			{Secret: secret + "1", Name: "a", Roles: []Role{Producer}, Topics: []string{"x"}},
			{Secret: secret + "2", Name: "a", Roles: []Role{Producer}, Topics: []string{"y"}},
		}, []string{"API keys 1 and 2 of identity \"a\" must have the same roles and topics"}},
		{"several at once", []Key{{Secret: "x", Name: "", Roles: nil}}, []string{"at least 16", "name must be", "at least one role"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Validate(c.keys)
			if err == nil {
				t.Fatal("no error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(c.want) {
				t.Fatalf("want %d problems, got:\n%v", len(c.want), err)
			}
			for i, w := range c.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("problem %d: %q does not say %q", i+1, lines[i], w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Error("an error shows a secret")
			}
		})
	}
	// Two keys of one identity that agree are a rotation, not a problem.
	if err := Validate([]Key{
		{Secret: secret + "1", Name: "a", Roles: []Role{Producer, Consumer}, Topics: []string{"x", "y.*"}},
		{SHA256: Hash(secret + "2")[7:], Name: "a", Roles: []Role{Consumer, Producer}, Topics: []string{"y.*", "x"}},
	}); err != nil {
		t.Fatal(err)
	}
}

func TestKeyringFindsBothKeysOfARotation(t *testing.T) {
	oldKey, newKey := NewSecret(), NewSecret()
	if len(newKey) != 46 || oldKey == newKey {
		t.Fatalf("secrets %q %q", oldKey, newKey)
	}
	kr, err := NewKeyring([]Key{
		{SHA256: strings.TrimPrefix(Hash(oldKey), "sha256:"), Name: "orders", Roles: []Role{Producer}, Topics: []string{"orders"}},
		{SHA256: strings.TrimPrefix(Hash(newKey), "sha256:"), Name: "orders", Roles: []Role{Producer}, Topics: []string{"orders"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{oldKey, newKey} {
		id, err := kr.Find(k)
		if err != nil || id.Name != "orders" || !id.Is(Producer) || id.Is(Consumer) {
			t.Fatalf("find: %+v %v", id, err)
		}
	}
	for presented, reason := range map[string]Reason{"": NoKey, "ck_not-configured-0123456789": BadKey, oldKey[:len(oldKey)-1]: BadKey} {
		_, err := kr.Find(presented)
		var r *Refusal
		if !errors.As(err, &r) || r.Reason != reason || !r.Unauthenticated() {
			t.Errorf("%q: %v", presented, err)
		}
	}
	kr2, err := NewKeyring([]Key{
		{Secret: "zeta-secret-0123456789", Name: "zeta", Roles: []Role{Admin}},
		{SHA256: strings.TrimPrefix(Hash(oldKey), "sha256:"), Name: "orders", Roles: []Role{Producer}, Topics: []string{"orders", "orders.*"}},
		{SHA256: strings.TrimPrefix(Hash(newKey), "sha256:"), Name: "orders", Roles: []Role{Producer}, Topics: []string{"orders", "orders.*"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(kr2.Identities())
	if want := "[{orders [producer] [orders orders.*] 2} {zeta [admin] [] 1}]"; got != want {
		t.Errorf("identities: got %s, want %s", got, want)
	}
	if strings.Contains(Key{Secret: oldKey, Name: "orders", Roles: []Role{Producer}}.String(), oldKey) {
		t.Error("String shows the secret")
	}
}

func TestTopicGrants(t *testing.T) {
	g, err := parseTopics([]string{"orders", "pay.*"})
	if err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]bool{
		"orders": true, "orders2": false, "orders.x": false,
		"pay.in": true, "pay.in.eu": true, "pay": false, "pay.": false, "payx": false,
	} {
		if g.allow(topic) != want {
			t.Errorf("%s: want %v", topic, want)
		}
	}
	all, _ := parseTopics([]string{"*"})
	if !all.allow("anything") {
		t.Error("* does not allow every topic")
	}
}

// TestRules is the decision table of what each identity may do to a
// message, by who prepared it, its topic and the consumers it names.
func TestRules(t *testing.T) {
	kr, err := NewKeyring([]Key{
		{Secret: "orders-secret-0123456789", Name: "orders", Roles: []Role{Producer}, Topics: []string{"orders"}},
		{Secret: "billing-secret-0123456789", Name: "billing", Roles: []Role{Producer}, Topics: []string{"billing.*"}},
		{Secret: "accounting-secret-0123456", Name: "accounting", Roles: []Role{Consumer}, Topics: []string{"orders"}},
		{Secret: "shipping-secret-012345678", Name: "shipping", Roles: []Role{Consumer}, Topics: []string{"*"}},
		{Secret: "ops-secret-0123456789abc", Name: "ops", Roles: []Role{Admin}},
	})
	if err != nil {
		t.Fatal(err)
	}
	who := func(name string) Identity {
		id, err := kr.Find(name + map[string]string{
			"orders": "-secret-0123456789", "billing": "-secret-0123456789", "accounting": "-secret-0123456",
			"shipping": "-secret-012345678", "ops": "-secret-0123456789abc",
		}[name])
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	reason := func(err error) Reason {
		var r *Refusal
		if errors.As(err, &r) {
			return r.Reason
		}
		if err != nil {
			t.Fatalf("not a refusal: %v", err)
		}
		return ""
	}
	ordersMsg := Message{Producer: "orders", Topic: "orders"}
	named := Message{Producer: "orders", Topic: "orders", Consumers: []string{"accounting"}}
	legacy := Message{Topic: "orders"}

	produce := []struct {
		who, topic, claimed, want string
		reason                    Reason
	}{
		{"orders", "orders", "", "orders", ""},
		{"orders", "orders", "orders", "orders", ""},
		{"orders", "orders", "billing", "", OtherName},
		{"orders", "billing.x", "", "", NoTopic},
		{"billing", "billing.eu", "", "billing", ""},
		{"billing", "billing", "", "", NoTopic},
		{"accounting", "orders", "", "", NoRole},
		{"ops", "anything", "orders", "orders", ""},
		{"ops", "anything", "", "", ""},
	}
	for _, c := range produce {
		got, err := who(c.who).Produce(c.topic, c.claimed)
		if reason(err) != c.reason || got != c.want {
			t.Errorf("%s produces to %s as %q: got %q, %v", c.who, c.topic, c.claimed, got, err)
		}
	}

	decide := []struct {
		who    string
		m      Message
		reason Reason
	}{
		{"orders", ordersMsg, ""},
		{"billing", ordersMsg, NotOwner},
		{"accounting", ordersMsg, NoRole},
		{"ops", ordersMsg, ""},
		{"orders", legacy, ""},
		{"billing", legacy, NotOwner},
	}
	for _, c := range decide {
		if got := reason(who(c.who).Decide(c.m)); got != c.reason {
			t.Errorf("%s decides %+v: got %q, want %q", c.who, c.m, got, c.reason)
		}
	}

	complete := []struct {
		who, claimed string
		m            Message
		want         string
		reason       Reason
	}{
		{"accounting", "", ordersMsg, "accounting", ""},
		{"accounting", "shipping", ordersMsg, "", OtherName},
		{"accounting", "", named, "accounting", ""},
		{"shipping", "", named, "shipping", NotOwner},
		{"accounting", "", Message{Producer: "billing", Topic: "billing.eu"}, "accounting", NoTopic},
		{"orders", "", ordersMsg, "", NoRole},
		{"ops", "shipping", named, "shipping", ""},
	}
	for _, c := range complete {
		got, err := who(c.who).Complete(c.m, c.claimed)
		if reason(err) != c.reason || (err == nil && got != c.want) {
			t.Errorf("%s completes %+v as %q: got %q, %v", c.who, c.m, c.claimed, got, err)
		}
	}

	read := []struct {
		who    string
		m      Message
		reason Reason
	}{
		{"orders", ordersMsg, ""},
		{"billing", ordersMsg, NotOwner},
		{"accounting", ordersMsg, ""},
		{"accounting", Message{Producer: "billing", Topic: "billing.eu"}, NotOwner},
		{"shipping", named, NotOwner},
		{"ops", named, ""},
	}
	for _, c := range read {
		if got := reason(who(c.who).Read(c.m)); got != c.reason {
			t.Errorf("%s reads %+v: got %q, want %q", c.who, c.m, got, c.reason)
		}
	}

	list := []struct {
		who, producer, want string
		reason              Reason
	}{
		{"orders", "", "orders", ""},
		{"orders", "orders", "orders", ""},
		{"orders", "billing", "", OtherName},
		{"accounting", "", "", NoRole},
		{"ops", "", "", ""},
		{"ops", "billing", "billing", ""},
	}
	for _, c := range list {
		got, err := who(c.who).ListAs(c.producer)
		if reason(err) != c.reason || got != c.want {
			t.Errorf("%s lists %q: got %q, %v", c.who, c.producer, got, err)
		}
	}

	if !Anonymous.Is(Admin) || !Anonymous.Is(Producer) {
		t.Error("the anonymous caller of an open gateway is not an admin")
	}
	if err := who("orders").Require(Admin); reason(err) != NoRole || strings.Count(err.Error(), "admin") != 1 {
		t.Errorf("require admin: %v", err)
	}
}

// A refusal about one message the key may not see (another producer's, one
// of a topic it does not consume, one naming other consumers) is Hidden: the
// gateway answers it as for an unknown id, so that a key cannot tell which
// ids exist. A refusal the key gets whatever the message (its role, a topic
// it produces to, a name it claims) is not.
func TestRefusalsAboutOneMessageAreHidden(t *testing.T) {
	keys := []Key{
		{Secret: "orders-secret-0123456789", Name: "orders", Roles: []Role{Producer}, Topics: []string{"orders"}},
		{Secret: "billing-secret-0123456789", Name: "billing", Roles: []Role{Producer}, Topics: []string{"billing.*"}},
		{Secret: "accounting-secret-0123456", Name: "accounting", Roles: []Role{Consumer}, Topics: []string{"orders"}},
		{Secret: "shipping-secret-012345678", Name: "shipping", Roles: []Role{Consumer}, Topics: []string{"*"}},
	}
	kr, err := NewKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	who := map[string]Identity{}
	for _, k := range keys {
		if who[k.Name], err = kr.Find(k.Secret); err != nil {
			t.Fatal(err)
		}
	}
	ordersMsg := Message{Producer: "orders", Topic: "orders"}
	named := Message{Producer: "orders", Topic: "orders", Consumers: []string{"accounting"}}
	billingMsg := Message{Producer: "billing", Topic: "billing.eu"}
	complete := func(name, claimed string, m Message) error {
		_, err := who[name].Complete(m, claimed)
		return err
	}
	produce := func(name, topic, claimed string) error {
		_, err := who[name].Produce(topic, claimed)
		return err
	}
	list := func(name, producer string) error {
		_, err := who[name].ListAs(producer)
		return err
	}
	for want, errs := range map[bool][]error{
		true: {
			who["billing"].Decide(ordersMsg),
			who["billing"].Read(ordersMsg),
			who["shipping"].Read(named),
			who["accounting"].Read(billingMsg),
			complete("shipping", "", named),
			complete("accounting", "", billingMsg),
			// Naming another consumer is not looked at before the message
			// is one the key may see.
			complete("accounting", "shipping", billingMsg),
		},
		false: {
			who["accounting"].Decide(ordersMsg),
			produce("orders", "billing.x", ""),
			produce("orders", "orders", "billing"),
			complete("orders", "", ordersMsg),
			complete("accounting", "shipping", ordersMsg),
			list("orders", "billing"),
			who["orders"].Require(Admin),
		},
	} {
		for i, err := range errs {
			var r *Refusal
			if !errors.As(err, &r) {
				t.Fatalf("hidden %v, case %d: not a refusal: %v", want, i, err)
			}
			if r.Hidden() != want {
				t.Errorf("case %d: %q (%s) hidden %v, want %v", i, r.Message, r.Reason, r.Hidden(), want)
			}
		}
	}
}
