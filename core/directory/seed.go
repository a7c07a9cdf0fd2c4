package directory

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	federationv1 "github.com/rallyvoip/rally/proto/rally/federation/v1"
	"go.yaml.in/yaml/v3"
)

// SeedError is an error in a directory seed file. It names the file and the
// key path within it, as in
//
//	london-directory.yaml: users[2].phone.kind: must be desk or softphone
//
// List indexes count from 0. It wraps [ErrSeed].
type SeedError struct {
	File string
	Path string // "" for the document itself
	Msg  string
}

func (e *SeedError) Error() string {
	if e.Path == "" {
		return e.File + ": " + e.Msg
	}
	return e.File + ": " + e.Path + ": " + e.Msg
}

func (e *SeedError) Unwrap() error { return ErrSeed }

// Seed fills an empty store (revision 0) from the directory file at path,
// in one transaction, and reports whether it did. A store that has ever
// been written is left alone and the file is not read: after the first
// start the store, not the file, is the truth.
func (s *Store) Seed(ctx context.Context, path, realm string) (bool, error) {
	if s.Revision() != 0 {
		return false, nil
	}
	recs, err := LoadSeed(path, realm)
	if err != nil {
		return false, err
	}
	if len(recs) == 0 {
		return false, nil
	}
	out, err := s.putMany(ctx, recs, true)
	if err != nil {
		return false, err
	}
	return out != nil, nil
}

// LoadSeed reads a directory seed file (DESIGN §4) and returns its records
// in file order — users, then phones (each user's phone: shorthand first,
// then the phones: list), hunt groups, mailboxes — with keys set and no
// revision or home site. realm is the SIP domain, the digest realm that
// plaintext passwords are hashed with. Errors are *SeedError values.
func LoadSeed(path, realm string) ([]*federationv1.Record, error) {
	if realm == "" {
		return nil, fmt.Errorf("directory: seed %s: empty realm (sip_domain)", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("directory: seed: %w", err)
	}
	return parseSeed(path, realm, data)
}

// seedParser walks the YAML node tree so that every error can name the key
// path; decoding into structs would only give line numbers.
type seedParser struct {
	file  string
	realm string

	exts    map[string]string // extension → path of its user or hunt group
	users   map[string]bool
	phones  map[string]string // phone id → path
	aliases map[string]string // H.323 id → path
	mboxes  map[string]string
}

func parseSeed(file, realm string, data []byte) ([]*federationv1.Record, error) {
	p := &seedParser{
		file: file, realm: realm,
		exts: map[string]string{}, users: map[string]bool{}, phones: map[string]string{},
		aliases: map[string]string{}, mboxes: map[string]string{},
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &SeedError{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil // empty file
	}
	root := resolve(doc.Content[0])
	if isNull(root) {
		return nil, nil
	}
	top, err := p.mapping(root, "", "users", "phones", "huntgroups", "mailboxes")
	if err != nil {
		return nil, err
	}
	var users, phones, groups, mboxes []*federationv1.Record
	// Users first: phones, hunt groups and mailboxes refer to them.
	if err := p.each(top["users"], "users", func(n *yaml.Node, path string) error {
		u, ph, err := p.user(n, path)
		if err != nil {
			return err
		}
		users = append(users, u)
		if ph != nil {
			phones = append(phones, ph)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if err := p.each(top["phones"], "phones", func(n *yaml.Node, path string) error {
		ph, err := p.phone(n, path)
		phones = append(phones, ph)
		return err
	}); err != nil {
		return nil, err
	}
	if err := p.each(top["huntgroups"], "huntgroups", func(n *yaml.Node, path string) error {
		g, err := p.huntGroup(n, path)
		groups = append(groups, g)
		return err
	}); err != nil {
		return nil, err
	}
	if err := p.each(top["mailboxes"], "mailboxes", func(n *yaml.Node, path string) error {
		m, err := p.mailbox(n, path)
		mboxes = append(mboxes, m)
		return err
	}); err != nil {
		return nil, err
	}
	out := make([]*federationv1.Record, 0, len(users)+len(phones)+len(groups)+len(mboxes))
	out = append(append(append(append(out, users...), phones...), groups...), mboxes...)
	for _, rec := range out {
		rec.Key, _ = KeyOf(rec)
		if err := Validate(rec); err != nil { // a backstop; the parser checks first
			return nil, &SeedError{File: file, Path: rec.Key, Msg: strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")}
		}
	}
	return out, nil
}

func (p *seedParser) errf(path, format string, args ...any) error {
	return &SeedError{File: p.file, Path: path, Msg: fmt.Sprintf(format, args...)}
}

func (p *seedParser) user(n *yaml.Node, path string) (*federationv1.Record, *federationv1.Record, error) {
	f, err := p.mapping(n, path, "extension", "name", "password", "ha1", "ha1_sha256",
		"h323_id", "h323_ids", "settings", "hotdesk_code", "phone")
	if err != nil {
		return nil, nil, err
	}
	u := &federationv1.User{}
	if u.Extension, err = p.id(f, path, "extension"); err != nil {
		return nil, nil, err
	}
	if err := p.claimExtension(u.Extension, path); err != nil {
		return nil, nil, err
	}
	p.users[u.Extension] = true
	if u.Name, err = p.str(f, path, "name"); err != nil {
		return nil, nil, err
	}
	if f["h323_id"] != nil && f["h323_ids"] != nil {
		return nil, nil, p.errf(join(path, "h323_ids"), "give h323_id or h323_ids, not both")
	}
	if f["h323_id"] != nil {
		a, err := p.id(f, path, "h323_id")
		if err != nil {
			return nil, nil, err
		}
		if err := p.claimAlias(a, join(path, "h323_id")); err != nil {
			return nil, nil, err
		}
		u.H323Ids = []string{a}
	}
	if n := f["h323_ids"]; n != nil {
		if err := p.each(n, join(path, "h323_ids"), func(n *yaml.Node, ipath string) error {
			a, err := p.scalarID(n, ipath)
			if err != nil {
				return err
			}
			u.H323Ids = append(u.H323Ids, a)
			return p.claimAlias(a, ipath)
		}); err != nil {
			return nil, nil, err
		}
	}
	if n := f["settings"]; n != nil {
		spath := join(path, "settings")
		sf, err := p.mapping(n, spath, "forward_always", "forward_busy", "forward_no_answer", "dnd")
		if err != nil {
			return nil, nil, err
		}
		st := &federationv1.UserSettings{}
		if st.ForwardAlways, err = p.str(sf, spath, "forward_always"); err != nil {
			return nil, nil, err
		}
		if st.ForwardBusy, err = p.str(sf, spath, "forward_busy"); err != nil {
			return nil, nil, err
		}
		if st.ForwardNoAnswer, err = p.str(sf, spath, "forward_no_answer"); err != nil {
			return nil, nil, err
		}
		if st.Dnd, err = p.boolean(sf, spath, "dnd"); err != nil {
			return nil, nil, err
		}
		u.Settings = st
	}
	code, err := p.str(f, path, "hotdesk_code")
	if err != nil {
		return nil, nil, err
	}
	if f["hotdesk_code"] != nil {
		if code == "" {
			return nil, nil, p.errf(join(path, "hotdesk_code"), "must not be empty")
		}
		u.HotdeskCodeHash = HashSecret(code)
	}
	user := &federationv1.Record{Body: &federationv1.Record_User{User: u}}

	// The phone: shorthand is one device whose id is the extension; the
	// user's password (or HA1) is that device's.
	var phone *federationv1.Record
	hasSecret := f["password"] != nil || f["ha1"] != nil || f["ha1_sha256"] != nil
	if n := f["phone"]; n != nil {
		ppath := join(path, "phone")
		pf, err := p.mapping(n, ppath, "kind", "protocol")
		if err != nil {
			return nil, nil, err
		}
		ph := &federationv1.Phone{Id: u.Extension, User: u.Extension}
		if ph.Kind, err = p.kind(pf, ppath); err != nil {
			return nil, nil, err
		}
		if ph.Protocol, err = p.protocol(pf, ppath); err != nil {
			return nil, nil, err
		}
		if err := p.credentials(f, path, ph); err != nil {
			return nil, nil, err
		}
		if err := p.claimPhone(ph.Id, ppath); err != nil {
			return nil, nil, err
		}
		phone = &federationv1.Record{Body: &federationv1.Record_Phone{Phone: ph}}
	} else if hasSecret {
		for _, k := range []string{"password", "ha1", "ha1_sha256"} {
			if f[k] != nil {
				return nil, nil, p.errf(join(path, k), "applies to the user's phone: device, and there is none (entries under phones: carry their own)")
			}
		}
	}
	return user, phone, nil
}

func (p *seedParser) phone(n *yaml.Node, path string) (*federationv1.Record, error) {
	f, err := p.mapping(n, path, "id", "user", "kind", "protocol", "password", "ha1", "ha1_sha256")
	if err != nil {
		return nil, err
	}
	ph := &federationv1.Phone{}
	if ph.Id, err = p.id(f, path, "id"); err != nil {
		return nil, err
	}
	if ph.User, err = p.id(f, path, "user"); err != nil {
		return nil, err
	}
	if !p.users[ph.User] {
		return nil, p.errf(join(path, "user"), "no user %q in this file", ph.User)
	}
	if ph.Kind, err = p.kind(f, path); err != nil {
		return nil, err
	}
	if ph.Protocol, err = p.protocol(f, path); err != nil {
		return nil, err
	}
	if err := p.credentials(f, path, ph); err != nil {
		return nil, err
	}
	if err := p.claimPhone(ph.Id, join(path, "id")); err != nil {
		return nil, err
	}
	return &federationv1.Record{Body: &federationv1.Record_Phone{Phone: ph}}, nil
}

// credentials fills ph's HA1s from password | ha1 / ha1_sha256 in f.
func (p *seedParser) credentials(f map[string]*yaml.Node, path string, ph *federationv1.Phone) error {
	if f["password"] != nil {
		for _, k := range []string{"ha1", "ha1_sha256"} {
			if f[k] != nil {
				return p.errf(join(path, k), "give password or %s, not both", k)
			}
		}
		pw, err := p.str(f, path, "password")
		if err != nil {
			return err
		}
		if pw == "" {
			return p.errf(join(path, "password"), "must not be empty")
		}
		ph.Ha1Md5 = HA1MD5(ph.Id, p.realm, pw)
		ph.Ha1Sha256 = HA1SHA256(ph.Id, p.realm, pw)
		return nil
	}
	var err error
	if ph.Ha1Md5, err = p.hash(f, path, "ha1", 32, "an MD5 HA1"); err != nil {
		return err
	}
	ph.Ha1Sha256, err = p.hash(f, path, "ha1_sha256", 64, "a SHA-256 HA1")
	return err
}

func (p *seedParser) huntGroup(n *yaml.Node, path string) (*federationv1.Record, error) {
	f, err := p.mapping(n, path, "extension", "name", "mode", "members")
	if err != nil {
		return nil, err
	}
	g := &federationv1.HuntGroup{}
	if g.Extension, err = p.id(f, path, "extension"); err != nil {
		return nil, err
	}
	if err := p.claimExtension(g.Extension, path); err != nil {
		return nil, err
	}
	if g.Name, err = p.str(f, path, "name"); err != nil {
		return nil, err
	}
	modes := map[string]federationv1.HuntGroupMode{
		"collective":   federationv1.HuntGroupMode_HUNT_GROUP_MODE_COLLECTIVE,
		"sequential":   federationv1.HuntGroupMode_HUNT_GROUP_MODE_SEQUENTIAL,
		"rotary":       federationv1.HuntGroupMode_HUNT_GROUP_MODE_ROTARY,
		"longest-idle": federationv1.HuntGroupMode_HUNT_GROUP_MODE_LONGEST_IDLE,
	}
	mode, err := p.str(f, path, "mode")
	if err != nil {
		return nil, err
	}
	if g.Mode = modes[mode]; g.Mode == federationv1.HuntGroupMode_HUNT_GROUP_MODE_UNSPECIFIED {
		return nil, p.errf(join(path, "mode"), "must be collective, sequential, rotary or longest-idle")
	}
	seen := map[string]string{}
	if err := p.each(f["members"], join(path, "members"), func(n *yaml.Node, mpath string) error {
		m, err := p.scalarID(n, mpath)
		if err != nil {
			return err
		}
		if !p.users[m] {
			return p.errf(mpath, "no user %q in this file", m)
		}
		if prev, dup := seen[m]; dup {
			return p.errf(mpath, "%q is already a member (%s)", m, prev)
		}
		seen[m] = mpath
		g.Members = append(g.Members, m)
		return nil
	}); err != nil {
		return nil, err
	}
	return &federationv1.Record{Body: &federationv1.Record_HuntGroup{HuntGroup: g}}, nil
}

func (p *seedParser) mailbox(n *yaml.Node, path string) (*federationv1.Record, error) {
	f, err := p.mapping(n, path, "extension", "pin", "pin_hash", "greeting")
	if err != nil {
		return nil, err
	}
	m := &federationv1.Mailbox{}
	if m.Extension, err = p.id(f, path, "extension"); err != nil {
		return nil, err
	}
	if _, ok := p.exts[m.Extension]; !ok {
		return nil, p.errf(join(path, "extension"), "no user or hunt group %q in this file", m.Extension)
	}
	if prev, dup := p.mboxes[m.Extension]; dup {
		return nil, p.errf(join(path, "extension"), "duplicate mailbox %q (also %s)", m.Extension, prev)
	}
	p.mboxes[m.Extension] = path
	if m.Greeting, err = p.str(f, path, "greeting"); err != nil {
		return nil, err
	}
	if f["pin"] != nil {
		if f["pin_hash"] != nil {
			return nil, p.errf(join(path, "pin_hash"), "give pin or pin_hash, not both")
		}
		pin, err := p.str(f, path, "pin")
		if err != nil {
			return nil, err
		}
		if pin == "" {
			return nil, p.errf(join(path, "pin"), "must not be empty")
		}
		m.PinHash = HashSecret(pin)
	} else if m.PinHash, err = p.hash(f, path, "pin_hash", 64, "a SHA-256 hash"); err != nil {
		return nil, err
	}
	return &federationv1.Record{Body: &federationv1.Record_Mailbox{Mailbox: m}}, nil
}

func (p *seedParser) kind(f map[string]*yaml.Node, path string) (federationv1.PhoneKind, error) {
	s, err := p.str(f, path, "kind")
	if err != nil {
		return 0, err
	}
	switch s {
	case "desk":
		return federationv1.PhoneKind_PHONE_KIND_DESK, nil
	case "softphone":
		return federationv1.PhoneKind_PHONE_KIND_SOFTPHONE, nil
	}
	return 0, p.errf(join(path, "kind"), "must be desk or softphone")
}

func (p *seedParser) protocol(f map[string]*yaml.Node, path string) (federationv1.Protocol, error) {
	s, err := p.str(f, path, "protocol")
	if err != nil {
		return 0, err
	}
	switch s {
	case "sip":
		return federationv1.Protocol_PROTOCOL_SIP, nil
	case "h323":
		return federationv1.Protocol_PROTOCOL_H323, nil
	}
	return 0, p.errf(join(path, "protocol"), "must be sip or h323")
}

func (p *seedParser) claimExtension(ext, path string) error {
	if prev, dup := p.exts[ext]; dup {
		return p.errf(join(path, "extension"), "duplicate extension %q (also %s)", ext, prev)
	}
	p.exts[ext] = path
	return nil
}

func (p *seedParser) claimPhone(id, path string) error {
	if prev, dup := p.phones[id]; dup {
		return p.errf(path, "duplicate phone id %q (also %s)", id, prev)
	}
	p.phones[id] = path
	return nil
}

func (p *seedParser) claimAlias(a, path string) error {
	if prev, dup := p.aliases[a]; dup {
		return p.errf(path, "duplicate H.323 id %q (also %s)", a, prev)
	}
	p.aliases[a] = path
	return nil
}

// mapping checks that n is a mapping whose keys are among allowed, each
// given once, and returns the value nodes by key.
func (p *seedParser) mapping(n *yaml.Node, path string, allowed ...string) (map[string]*yaml.Node, error) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(path, "must be a mapping")
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, p.errf(path, "keys must be strings")
		}
		kpath := join(path, k.Value)
		if !contains(allowed, k.Value) {
			return nil, p.errf(kpath, "unknown key (want one of %s)", strings.Join(allowed, ", "))
		}
		if _, dup := out[k.Value]; dup {
			return nil, p.errf(kpath, "given twice")
		}
		out[k.Value] = resolve(v)
	}
	return out, nil
}

// each calls fn for each item of the sequence n (absent or null: none).
func (p *seedParser) each(n *yaml.Node, path string, fn func(*yaml.Node, string) error) error {
	if n == nil || isNull(n) {
		return nil
	}
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		return p.errf(path, "must be a list")
	}
	for i, item := range n.Content {
		if err := fn(resolve(item), path+"["+strconv.Itoa(i)+"]"); err != nil {
			return err
		}
	}
	return nil
}

// str returns the scalar under key as written ("" when absent or null).
// Unquoted numbers keep their spelling: extension 0201 stays "0201".
func (p *seedParser) str(f map[string]*yaml.Node, path, key string) (string, error) {
	n := f[key]
	if n == nil || isNull(n) {
		return "", nil
	}
	if n.Kind != yaml.ScalarNode {
		return "", p.errf(join(path, key), "must be a string")
	}
	return n.Value, nil
}

// id returns the required identifier under key.
func (p *seedParser) id(f map[string]*yaml.Node, path, key string) (string, error) {
	if n := f[key]; n == nil || isNull(n) {
		return "", p.errf(join(path, key), "required")
	}
	return p.scalarID(f[key], join(path, key))
}

func (p *seedParser) scalarID(n *yaml.Node, path string) (string, error) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		return "", p.errf(path, "must be a string")
	}
	if err := checkID(n.Value); err != nil {
		return "", p.errf(path, "%v", err)
	}
	return n.Value, nil
}

func (p *seedParser) boolean(f map[string]*yaml.Node, path, key string) (bool, error) {
	n := f[key]
	if n == nil || isNull(n) {
		return false, nil
	}
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		return false, p.errf(join(path, key), "must be true or false")
	}
	return b, nil
}

// hash returns the hex hash under key, lowercased, checking its length.
func (p *seedParser) hash(f map[string]*yaml.Node, path, key string, digits int, what string) (string, error) {
	s, err := p.str(f, path, key)
	if err != nil || s == "" {
		if err == nil && f[key] != nil {
			err = p.errf(join(path, key), "must not be empty")
		}
		return "", err
	}
	if !isHex(s, digits) {
		return "", p.errf(join(path, key), "must be %s: %d hex digits", what, digits)
	}
	return strings.ToLower(s), nil
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var _ error = (*SeedError)(nil)
