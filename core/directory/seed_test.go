package directory

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

const realm = "voip.example"

// Vectors computed independently of this package (md5sum / sha256sum of
// "id:realm:password", and of the PIN).
const (
	aliceHA1MD5    = "53c3d6492643a768a6448b34bafb7e78" // 201:voip.example:alice-secret
	aliceHA1SHA256 = "7b2d8084f891c493aec37859af93fd46574908c3d5dde5bbb2ba7c98d0fd1584"
	softHA1MD5     = "f74730b9fad0271a10164d90e7cb3a0c" // 201-soft:voip.example:alice-soft
	softHA1SHA256  = "fe32f45cc1c83340d0b65acd796e8e8d4c66927ec9f5e8826042a45c05420363"
	bobHA1MD5      = "695298b2b05a3cf94b3fd79228827c17" // 202:voip.example:bob-secret
	pin1234SHA256  = "03ac674216f3e15c761ee1a5e255f067953623c8b388b4459e13f978d7c846f4"
	code4711SHA256 = "de650d61f5bd166a91f8ccec3158297db18b9d50eaedca238cd29dc3a214a916"
)

func TestHashVectors(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		// RFC 2617 §3.5: Mufasa / testrealm@host.com / Circle Of Life.
		{name: "RFC 2617 HA1", got: HA1MD5("Mufasa", "testrealm@host.com", "Circle Of Life"), want: "939e7578ed9e3c518a452acee763bce9"},
		// RFC 7616 §3.9.1 user and realm, SHA-256.
		{name: "RFC 7616 HA1 SHA-256", got: HA1SHA256("Mufasa", "http-auth@example.org", "Circle of Life"), want: "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232"},
		{name: "alice md5", got: HA1MD5("201", realm, "alice-secret"), want: aliceHA1MD5},
		{name: "pin", got: HashSecret("1234"), want: pin1234SHA256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
}

func TestLoadSeedLondon(t *testing.T) {
	recs, err := LoadSeed("testdata/london-directory.yaml", realm)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"user/201", "user/202", "user/203", "phone/201", "phone/202", "phone/203", "phone/201-soft", "huntgroup/600", "mailbox/201"}
	if got := keys(recs); !slices.Equal(got, want) {
		t.Fatalf("keys = %v, want %v", got, want)
	}
	byKey := map[string]*federationv1.Record{}
	for _, r := range recs {
		byKey[r.GetKey()] = r
	}
	desk, soft := federationv1.PhoneKind_PHONE_KIND_DESK, federationv1.PhoneKind_PHONE_KIND_SOFTPHONE
	sip, h323 := federationv1.Protocol_PROTOCOL_SIP, federationv1.Protocol_PROTOCOL_H323
	phones := []struct {
		name      string
		key       string
		user      string
		kind      federationv1.PhoneKind
		protocol  federationv1.Protocol
		md5, s256 string
	}{
		{name: "alice desk from user password", key: "phone/201", user: "201", kind: desk, protocol: sip, md5: aliceHA1MD5, s256: aliceHA1SHA256},
		{name: "bob given ha1", key: "phone/202", user: "202", kind: soft, protocol: sip, md5: bobHA1MD5},
		{name: "carol h323 no secret", key: "phone/203", user: "203", kind: desk, protocol: h323},
		{name: "alice softphone own password", key: "phone/201-soft", user: "201", kind: soft, protocol: sip, md5: softHA1MD5, s256: softHA1SHA256},
	}
	for _, tt := range phones {
		t.Run(tt.name, func(t *testing.T) {
			p := byKey[tt.key].GetPhone()
			if p.GetUser() != tt.user || p.GetKind() != tt.kind || p.GetProtocol() != tt.protocol ||
				p.GetHa1Md5() != tt.md5 || p.GetHa1Sha256() != tt.s256 {
				t.Fatalf("%s = %v", tt.key, p)
			}
		})
	}
	if u := byKey["user/203"].GetUser(); u.GetName() != "Carol" || !slices.Equal(u.GetH323Ids(), []string{"carol"}) {
		t.Fatalf("carol = %v", u)
	}
	if g := byKey["huntgroup/600"].GetHuntGroup(); g.GetName() != "Sales" || g.GetMode() != federationv1.HuntGroupMode_HUNT_GROUP_MODE_COLLECTIVE ||
		!slices.Equal(g.GetMembers(), []string{"201", "202"}) {
		t.Fatalf("hunt group = %v", g)
	}
	if m := byKey["mailbox/201"].GetMailbox(); m.GetPinHash() != pin1234SHA256 {
		t.Fatalf("mailbox = %v", m)
	}
	data, _ := os.ReadFile("testdata/london-directory.yaml")
	for _, r := range recs {
		if strings.Contains(r.String(), "secret") || strings.Contains(r.String(), "alice-soft") {
			t.Fatalf("plaintext secret in %v", r)
		}
	}
	if !strings.Contains(string(data), "alice-secret") {
		t.Fatal("test file changed: the plaintext check above means nothing")
	}
}

func TestLoadSeedFullShape(t *testing.T) {
	path := writeSeed(t, `
users:
  - extension: 0301        # unquoted, keeps its spelling
    name: Dave
    ha1: 53C3D6492643A768A6448B34BAFB7E78
    ha1_sha256: 7b2d8084f891c493aec37859af93fd46574908c3d5dde5bbb2ba7c98d0fd1584
    h323_ids: [dave, dave-2]
    settings: {forward_always: "", forward_busy: "500", forward_no_answer: "500", dnd: true}
    hotdesk_code: 4711
    phone: {kind: desk, protocol: sip}
  - extension: "302"
huntgroups:
  - {extension: "700", name: Support, mode: longest-idle, members: ["0301", "302"]}
mailboxes:
  - {extension: "302", pin_hash: 03ac674216f3e15c761ee1a5e255f067953623c8b388b4459e13f978d7c846f4, greeting: support-greeting}
  - {extension: "700"}
`)
	recs, err := LoadSeed(path, realm)
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(recs); !slices.Equal(got, []string{"user/0301", "user/302", "phone/0301", "huntgroup/700", "mailbox/302", "mailbox/700"}) {
		t.Fatalf("keys = %v", got)
	}
	u := recs[0].GetUser()
	st := u.GetSettings()
	if !slices.Equal(u.GetH323Ids(), []string{"dave", "dave-2"}) || u.GetHotdeskCodeHash() != code4711SHA256 ||
		st.GetForwardBusy() != "500" || st.GetForwardNoAnswer() != "500" || !st.GetDnd() {
		t.Fatalf("user = %v", u)
	}
	if p := recs[2].GetPhone(); p.GetHa1Md5() != aliceHA1MD5 || p.GetHa1Sha256() != aliceHA1SHA256 {
		t.Fatalf("phone = %v (given HA1s are lowercased and kept)", p)
	}
	if recs[1].GetUser().GetSettings() != nil {
		t.Fatal("user without settings got settings")
	}
	if m := recs[4].GetMailbox(); m.GetPinHash() != pin1234SHA256 || m.GetGreeting() != "support-greeting" {
		t.Fatalf("mailbox = %v", m)
	}
}

func TestLoadSeedErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // after "<file>: "
	}{
		{name: "bad phone kind", yaml: `
users:
  - {extension: "201", phone: {kind: desk, protocol: sip}}
  - {extension: "202", phone: {kind: desk, protocol: sip}}
  - {extension: "203", phone: {kind: deskphone, protocol: sip}}`,
			want: "users[2].phone.kind: must be desk or softphone"},
		{name: "missing phone protocol", yaml: `
users: [{extension: "201", phone: {kind: desk}}]`, want: "users[0].phone.protocol: must be sip or h323"},
		{name: "unknown top key", yaml: `
user: []`, want: "user: unknown key"},
		{name: "unknown user key", yaml: `
users: [{extension: "201", passwd: x}]`, want: "users[0].passwd: unknown key"},
		{name: "unknown shorthand key", yaml: `
users: [{extension: "201", phone: {kind: desk, protocol: sip, id: x}}]`, want: "users[0].phone.id: unknown key"},
		{name: "unknown settings key", yaml: `
users: [{extension: "201", settings: {forward: "1"}}]`, want: "users[0].settings.forward: unknown key"},
		{name: "missing extension", yaml: `
users: [{name: Alice}]`, want: "users[0].extension: required"},
		{name: "duplicate extension", yaml: `
users: [{extension: "201"}, {extension: "201"}]`, want: `users[1].extension: duplicate extension "201" (also users[0])`},
		{name: "hunt group clashes with user", yaml: `
users: [{extension: "600"}]
huntgroups: [{extension: "600", mode: rotary}]`, want: `huntgroups[0].extension: duplicate extension "600" (also users[0])`},
		{name: "duplicate phone id", yaml: `
users: [{extension: "201", password: x, phone: {kind: desk, protocol: sip}}]
phones: [{id: "201", user: "201", kind: softphone, protocol: sip}]`, want: `phones[0].id: duplicate phone id "201" (also users[0].phone)`},
		{name: "phone of unknown user", yaml: `
users: [{extension: "201"}]
phones: [{id: "x", user: "209", kind: desk, protocol: sip}]`, want: `phones[0].user: no user "209" in this file`},
		{name: "phone missing id", yaml: `
users: [{extension: "201"}]
phones: [{user: "201", kind: desk, protocol: sip}]`, want: "phones[0].id: required"},
		{name: "member not a user", yaml: `
users: [{extension: "201"}]
huntgroups: [{extension: "600", mode: collective, members: ["201", "299"]}]`, want: `huntgroups[0].members[1]: no user "299" in this file`},
		{name: "member twice", yaml: `
users: [{extension: "201"}]
huntgroups: [{extension: "600", mode: collective, members: ["201", "201"]}]`, want: `huntgroups[0].members[1]: "201" is already a member`},
		{name: "bad mode", yaml: `
huntgroups: [{extension: "600", mode: random}]`, want: "huntgroups[0].mode: must be collective, sequential, rotary or longest-idle"},
		{name: "password and ha1", yaml: `
users: [{extension: "201", password: x, ha1: 53c3d6492643a768a6448b34bafb7e78, phone: {kind: desk, protocol: sip}}]`, want: "users[0].ha1: give password or ha1, not both"},
		{name: "short ha1", yaml: `
users: [{extension: "201", ha1: 0c3d5f, phone: {kind: desk, protocol: sip}}]`, want: "users[0].ha1: must be an MD5 HA1: 32 hex digits"},
		{name: "password without device", yaml: `
users: [{extension: "201", password: x}]`, want: "users[0].password: applies to the user's phone: device"},
		{name: "h323_id and h323_ids", yaml: `
users: [{extension: "201", h323_id: a, h323_ids: [b]}]`, want: "users[0].h323_ids: give h323_id or h323_ids, not both"},
		{name: "duplicate h323 id", yaml: `
users: [{extension: "201", h323_id: a}, {extension: "202", h323_ids: [b, a]}]`, want: `users[1].h323_ids[1]: duplicate H.323 id "a" (also users[0].h323_id)`},
		{name: "dnd not bool", yaml: `
users: [{extension: "201", settings: {dnd: maybe}}]`, want: "users[0].settings.dnd: must be true or false"},
		{name: "mailbox of nobody", yaml: `
users: [{extension: "201"}]
mailboxes: [{extension: "299", pin: "1"}]`, want: `mailboxes[0].extension: no user or hunt group "299" in this file`},
		{name: "mailbox twice", yaml: `
users: [{extension: "201"}]
mailboxes: [{extension: "201"}, {extension: "201"}]`, want: `mailboxes[1].extension: duplicate mailbox "201" (also mailboxes[0])`},
		{name: "pin and pin_hash", yaml: `
users: [{extension: "201"}]
mailboxes: [{extension: "201", pin: "1", pin_hash: 03ac674216f3e15c761ee1a5e255f067953623c8b388b4459e13f978d7c846f4}]`, want: "mailboxes[0].pin_hash: give pin or pin_hash, not both"},
		{name: "users not a list", yaml: `
users: {extension: "201"}`, want: "users: must be a list"},
		{name: "extension with space", yaml: `
users: [{extension: "2 01"}]`, want: "users[0].extension: \"2 01\": must not contain ' '"},
		{name: "key given twice", yaml: `
users: [{extension: "201", name: a, name: b}]`, want: "users[0]"},
		{name: "not yaml", yaml: "users: [", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeSeed(t, tt.yaml)
			_, err := LoadSeed(path, realm)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrSeed) {
				t.Fatalf("err %v does not wrap ErrSeed", err)
			}
			var se *SeedError
			if !errors.As(err, &se) || se.File != path {
				t.Fatalf("err %v does not name the file %s", err, path)
			}
			if !strings.HasPrefix(err.Error(), path+": "+tt.want) {
				t.Fatalf("err = %q\nwant prefix %q", err, path+": "+tt.want)
			}
		})
	}
}

func TestSeed(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	seeded, err := s.Seed(ctx, "testdata/london-directory.yaml", realm)
	if err != nil || !seeded {
		t.Fatalf("Seed = %v, %v; want true", seeded, err)
	}
	if s.Revision() != 9 {
		t.Fatalf("revision after seed = %d, want 9", s.Revision())
	}
	p, err := s.Get("phone/201")
	if err != nil || p.GetPhone().GetHa1Md5() != aliceHA1MD5 || p.GetHomeSite() != "london" {
		t.Fatalf("phone/201 = %v, %v", p, err)
	}
	tests := []struct {
		name string
		path string
	}{
		{name: "same file again", path: "testdata/london-directory.yaml"},
		{name: "file gone", path: "testdata/missing.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seeded, err := s.Seed(ctx, tt.path, realm)
			if err != nil || seeded || s.Revision() != 9 {
				t.Fatalf("Seed on a written store = %v, %v (revision %d)", seeded, err, s.Revision())
			}
		})
	}
	s2, _ := openTest(t)
	if _, err := s2.Seed(ctx, "testdata/missing.yaml", realm); err == nil {
		t.Fatal("Seed of an empty store from a missing file: no error")
	}
}

func writeSeed(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "london-directory.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
