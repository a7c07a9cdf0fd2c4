package directory

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
)

// Record kinds, the first part of a record key.
const (
	KindUser      = "user"
	KindPhone     = "phone"
	KindHuntGroup = "huntgroup"
	KindMailbox   = "mailbox"
)

// Kinds lists the record kinds in a stable order.
func Kinds() []string {
	return []string{KindUser, KindPhone, KindHuntGroup, KindMailbox}
}

// Sentinel errors of the package; returned errors wrap them with detail.
var (
	// ErrNotFound: no live record under that key.
	ErrNotFound = errors.New("directory: not found")
	// ErrInvalid: a malformed record or key.
	ErrInvalid = errors.New("directory: invalid record")
	// ErrNeedSnapshot: changes since that revision cannot be given as
	// increments (tombstones compacted, or the revision is ahead of the store).
	ErrNeedSnapshot = errors.New("directory: snapshot needed")
	// ErrSiteMismatch: the store file belongs to another site.
	ErrSiteMismatch = errors.New("directory: store belongs to another site")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("directory: store closed")
	// ErrSeed: the directory seed file is invalid. Errors from [LoadSeed]
	// are *SeedError values that wrap it.
	ErrSeed = errors.New("directory: invalid seed file")
)

// Key returns the record key for kind and id, such as "user/201".
func Key(kind, id string) string { return kind + "/" + id }

// SplitKey splits a record key into its kind and id. The kind must be one
// of the Kind constants and the id a valid identifier.
func SplitKey(key string) (kind, id string, err error) {
	kind, id, ok := strings.Cut(key, "/")
	if !ok {
		return "", "", fmt.Errorf("%w: key %q: want kind/id", ErrInvalid, key)
	}
	if !knownKind(kind) {
		return "", "", fmt.Errorf("%w: key %q: unknown kind %q", ErrInvalid, key, kind)
	}
	if err := checkID(id); err != nil {
		return "", "", fmt.Errorf("%w: key %q: id %v", ErrInvalid, key, err)
	}
	return kind, id, nil
}

// KeyOf derives a record's key from its body: user.extension, phone.id,
// hunt_group.extension or mailbox.extension. It does not look at rec.Key.
func KeyOf(rec *federationv1.Record) (string, error) {
	if rec == nil {
		return "", fmt.Errorf("%w: nil record", ErrInvalid)
	}
	var kind, id string
	switch b := rec.GetBody().(type) {
	case *federationv1.Record_User:
		kind, id = KindUser, b.User.GetExtension()
	case *federationv1.Record_Phone:
		kind, id = KindPhone, b.Phone.GetId()
	case *federationv1.Record_HuntGroup:
		kind, id = KindHuntGroup, b.HuntGroup.GetExtension()
	case *federationv1.Record_Mailbox:
		kind, id = KindMailbox, b.Mailbox.GetExtension()
	default:
		return "", fmt.Errorf("%w: record %q has no body", ErrInvalid, rec.GetKey())
	}
	if err := checkID(id); err != nil {
		return "", fmt.Errorf("%w: %s id %v", ErrInvalid, kind, err)
	}
	return Key(kind, id), nil
}

func knownKind(kind string) bool {
	switch kind {
	case KindUser, KindPhone, KindHuntGroup, KindMailbox:
		return true
	}
	return false
}

// checkID accepts a non-empty identifier (extension, phone id) of printable
// characters without spaces or '/'. The error has no package prefix; callers
// add context.
func checkID(id string) error {
	if id == "" {
		return errors.New("is empty")
	}
	for _, r := range id {
		if r == '/' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("%q: must not contain %q", id, r)
		}
	}
	return nil
}
