package directory

import (
	"fmt"

	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// Validate checks that a live record is well formed on its own: it has a
// body, rec.Key (when set) matches the body, required fields are present,
// enums are known and not UNSPECIFIED, and credential hashes look like
// hashes (so a plaintext secret cannot slip into a hash field). It does not
// check references to other records. The error wraps [ErrInvalid].
func Validate(rec *federationv1.Record) error {
	key, err := KeyOf(rec)
	if err != nil {
		return err
	}
	if rec.GetKey() != "" && rec.GetKey() != key {
		return fmt.Errorf("%w: key %q does not match body (%q)", ErrInvalid, rec.GetKey(), key)
	}
	if rec.GetDeleted() {
		return fmt.Errorf("%w: %s: deleted is set on a live record", ErrInvalid, key)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, key, fmt.Sprintf(format, args...))
	}
	switch b := rec.GetBody().(type) {
	case *federationv1.Record_User:
		u := b.User
		for i, a := range u.GetH323Ids() {
			if a == "" {
				return bad("h323_ids[%d] is empty", i)
			}
		}
		if h := u.GetHotdeskCodeHash(); h != "" && !isHex(h, 64) {
			return bad("hotdesk_code_hash must be 64 hex digits")
		}
	case *federationv1.Record_Phone:
		p := b.Phone
		if err := checkID(p.GetUser()); err != nil {
			return bad("user %v", err)
		}
		if _, ok := federationv1.PhoneKind_name[int32(p.GetKind())]; !ok || p.GetKind() == federationv1.PhoneKind_PHONE_KIND_UNSPECIFIED {
			return bad("kind must be desk or softphone")
		}
		if _, ok := federationv1.Protocol_name[int32(p.GetProtocol())]; !ok || p.GetProtocol() == federationv1.Protocol_PROTOCOL_UNSPECIFIED {
			return bad("protocol must be sip or h323")
		}
		if h := p.GetHa1Md5(); h != "" && !isHex(h, 32) {
			return bad("ha1_md5 must be 32 hex digits")
		}
		if h := p.GetHa1Sha256(); h != "" && !isHex(h, 64) {
			return bad("ha1_sha256 must be 64 hex digits")
		}
	case *federationv1.Record_HuntGroup:
		h := b.HuntGroup
		if _, ok := federationv1.HuntGroupMode_name[int32(h.GetMode())]; !ok || h.GetMode() == federationv1.HuntGroupMode_HUNT_GROUP_MODE_UNSPECIFIED {
			return bad("mode must be collective, sequential, rotary or longest-idle")
		}
		seen := make(map[string]bool, len(h.GetMembers()))
		for i, m := range h.GetMembers() {
			if err := checkID(m); err != nil {
				return bad("members[%d] %v", i, err)
			}
			if seen[m] {
				return bad("members[%d]: %q listed twice", i, m)
			}
			seen[m] = true
		}
	case *federationv1.Record_Mailbox:
		if h := b.Mailbox.GetPinHash(); h != "" && !isHex(h, 64) {
			return bad("pin_hash must be 64 hex digits")
		}
	}
	return nil
}

// isHex reports whether s is n lowercase or uppercase hex digits.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
