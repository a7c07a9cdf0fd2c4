package directory

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"

	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
	"google.golang.org/protobuf/proto"
)

// Redact returns a copy of rec without credentials (ha1_md5, ha1_sha256,
// pin_hash, hotdesk_code_hash), for the directory index sent to peers that
// do not back this site up. rec is not modified; Redact(nil) is nil.
func Redact(rec *federationv1.Record) *federationv1.Record {
	if rec == nil {
		return nil
	}
	c := proto.CloneOf(rec)
	switch b := c.GetBody().(type) {
	case *federationv1.Record_User:
		b.User.HotdeskCodeHash = ""
	case *federationv1.Record_Phone:
		b.Phone.Ha1Md5 = ""
		b.Phone.Ha1Sha256 = ""
	case *federationv1.Record_Mailbox:
		b.Mailbox.PinHash = ""
	}
	return c
}

// HA1MD5 is the SIP digest HA1 for the MD5 algorithm (RFC 2617, RFC 7616):
// hex MD5 of "user:realm:password". For a phone, user is the phone id.
func HA1MD5(user, realm, password string) string {
	sum := md5.Sum([]byte(user + ":" + realm + ":" + password))
	return hex.EncodeToString(sum[:])
}

// HA1SHA256 is the SIP digest HA1 for the SHA-256 algorithm (RFC 7616):
// hex SHA-256 of "user:realm:password".
func HA1SHA256(user, realm, password string) string {
	sum := sha256.Sum256([]byte(user + ":" + realm + ":" + password))
	return hex.EncodeToString(sum[:])
}

// HashSecret is the stored form of a PIN or hot-desk code: hex SHA-256.
func HashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
