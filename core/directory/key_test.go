package directory

import (
	"errors"
	"testing"

	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

func TestSplitKey(t *testing.T) {
	tests := []struct {
		name     string
		key      string
		kind, id string
		wantErr  bool
	}{
		{name: "user", key: "user/201", kind: KindUser, id: "201"},
		{name: "phone with dash", key: "phone/201-soft", kind: KindPhone, id: "201-soft"},
		{name: "huntgroup", key: "huntgroup/600", kind: KindHuntGroup, id: "600"},
		{name: "mailbox", key: "mailbox/201", kind: KindMailbox, id: "201"},
		{name: "no slash", key: "user201", wantErr: true},
		{name: "unknown kind", key: "fax/201", wantErr: true},
		{name: "empty id", key: "user/", wantErr: true},
		{name: "slash in id", key: "user/2/01", wantErr: true},
		{name: "space in id", key: "user/2 01", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, id, err := SplitKey(tt.key)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("SplitKey(%q) err = %v, want ErrInvalid", tt.key, err)
				}
				return
			}
			if err != nil || kind != tt.kind || id != tt.id {
				t.Fatalf("SplitKey(%q) = %q, %q, %v; want %q, %q", tt.key, kind, id, err, tt.kind, tt.id)
			}
			if got := Key(kind, id); got != tt.key {
				t.Fatalf("Key(%q, %q) = %q, want %q", kind, id, got, tt.key)
			}
		})
	}
}

func TestKeyOf(t *testing.T) {
	tests := []struct {
		name    string
		rec     *federationv1.Record
		want    string
		wantErr bool
	}{
		{name: "user", rec: userRec("201", "Alice"), want: "user/201"},
		{name: "phone", rec: phoneRec("201-soft", "201"), want: "phone/201-soft"},
		{name: "huntgroup", rec: &federationv1.Record{Body: &federationv1.Record_HuntGroup{HuntGroup: &federationv1.HuntGroup{Extension: "600"}}}, want: "huntgroup/600"},
		{name: "mailbox", rec: &federationv1.Record{Body: &federationv1.Record_Mailbox{Mailbox: &federationv1.Mailbox{Extension: "201"}}}, want: "mailbox/201"},
		{name: "key field ignored", rec: &federationv1.Record{Key: "user/999", Body: &federationv1.Record_User{User: &federationv1.User{Extension: "201"}}}, want: "user/201"},
		{name: "no body", rec: &federationv1.Record{Key: "user/201"}, wantErr: true},
		{name: "nil", rec: nil, wantErr: true},
		{name: "empty extension", rec: userRec("", "X"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := KeyOf(tt.rec)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("KeyOf err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("KeyOf = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	phone := func(mut func(*federationv1.Phone)) *federationv1.Record {
		r := phoneRec("201", "201")
		mut(r.GetPhone())
		return r
	}
	tests := []struct {
		name    string
		rec     *federationv1.Record
		wantErr bool
	}{
		{name: "valid user", rec: userRec("201", "Alice")},
		{name: "valid phone", rec: phoneRec("201", "201")},
		{name: "key mismatch", rec: &federationv1.Record{Key: "user/202", Body: &federationv1.Record_User{User: &federationv1.User{Extension: "201"}}}, wantErr: true},
		{name: "deleted live record", rec: &federationv1.Record{Deleted: true, Body: &federationv1.Record_User{User: &federationv1.User{Extension: "201"}}}, wantErr: true},
		{name: "phone without user", rec: phone(func(p *federationv1.Phone) { p.User = "" }), wantErr: true},
		{name: "phone kind unspecified", rec: phone(func(p *federationv1.Phone) { p.Kind = 0 }), wantErr: true},
		{name: "phone kind unknown", rec: phone(func(p *federationv1.Phone) { p.Kind = 9 }), wantErr: true},
		{name: "phone protocol unspecified", rec: phone(func(p *federationv1.Phone) { p.Protocol = 0 }), wantErr: true},
		{name: "plaintext in ha1", rec: phone(func(p *federationv1.Phone) { p.Ha1Md5 = "alice-secret" }), wantErr: true},
		{name: "short ha1_sha256", rec: phone(func(p *federationv1.Phone) { p.Ha1Sha256 = "abcd" }), wantErr: true},
		{name: "huntgroup mode unspecified", rec: &federationv1.Record{Body: &federationv1.Record_HuntGroup{HuntGroup: &federationv1.HuntGroup{Extension: "600"}}}, wantErr: true},
		{name: "huntgroup duplicate member", rec: &federationv1.Record{Body: &federationv1.Record_HuntGroup{HuntGroup: &federationv1.HuntGroup{
			Extension: "600", Mode: federationv1.HuntGroupMode_HUNT_GROUP_MODE_ROTARY, Members: []string{"201", "201"}}}}, wantErr: true},
		{name: "mailbox plaintext pin", rec: &federationv1.Record{Body: &federationv1.Record_Mailbox{Mailbox: &federationv1.Mailbox{Extension: "201", PinHash: "1234"}}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.rec)
			if tt.wantErr != (err != nil) {
				t.Fatalf("Validate err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate err = %v, does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		name string
		rec  *federationv1.Record
	}{
		{name: "phone", rec: &federationv1.Record{Key: "phone/201", Body: &federationv1.Record_Phone{Phone: &federationv1.Phone{
			Id: "201", User: "201", Ha1Md5: HA1MD5("201", "r", "p"), Ha1Sha256: HA1SHA256("201", "r", "p")}}}},
		{name: "user", rec: &federationv1.Record{Key: "user/201", Body: &federationv1.Record_User{User: &federationv1.User{
			Extension: "201", Name: "Alice", HotdeskCodeHash: HashSecret("4711")}}}},
		{name: "mailbox", rec: &federationv1.Record{Key: "mailbox/201", Body: &federationv1.Record_Mailbox{Mailbox: &federationv1.Mailbox{
			Extension: "201", Greeting: "g", PinHash: HashSecret("1234")}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Redact(tt.rec)
			if got.GetPhone().GetHa1Md5() != "" || got.GetPhone().GetHa1Sha256() != "" ||
				got.GetUser().GetHotdeskCodeHash() != "" || got.GetMailbox().GetPinHash() != "" {
				t.Fatalf("Redact left a credential: %v", got)
			}
			if got.GetKey() != tt.rec.GetKey() {
				t.Fatalf("Redact changed the key")
			}
			if tt.rec.GetPhone().GetHa1Md5() == "" && tt.rec.GetUser().GetHotdeskCodeHash() == "" && tt.rec.GetMailbox().GetPinHash() == "" {
				t.Fatalf("Redact modified its argument")
			}
		})
	}
	if Redact(nil) != nil {
		t.Fatal("Redact(nil) != nil")
	}
}

func userRec(ext, name string) *federationv1.Record {
	return &federationv1.Record{Body: &federationv1.Record_User{User: &federationv1.User{Extension: ext, Name: name}}}
}

func phoneRec(id, user string) *federationv1.Record {
	return &federationv1.Record{Body: &federationv1.Record_Phone{Phone: &federationv1.Phone{
		Id: id, User: user, Kind: federationv1.PhoneKind_PHONE_KIND_DESK, Protocol: federationv1.Protocol_PROTOCOL_SIP,
	}}}
}
