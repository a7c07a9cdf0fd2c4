package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// checkNode walks n against the Go type t before the real decode, so that
// unknown keys and badly typed values are reported with their full key path
// ("federation.peers[1].addr") and line, which yaml.v3's own messages lack.
func checkNode(file, path string, n *yaml.Node, t reflect.Type) []error {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || n.Kind == 0 || n.ShortTag() == "!!null" {
		return nil // absent: the default stays
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	bad := func(format string, args ...any) []error {
		return []error{&FieldError{File: file, Line: n.Line, Key: path, Msg: fmt.Sprintf(format, args...), Err: ErrInvalid}}
	}
	if t == reflect.TypeFor[yaml.Node]() {
		return nil // kept raw
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]()) {
		return checkLeaf(file, path, n, t)
	}

	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return bad("must be a mapping (got %s)", describe(n))
		}
		var errs []error
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" && k.ShortTag() == "!!merge" {
				errs = append(errs, checkMerge(file, path, v, t)...)
				continue
			}
			f, ok := fieldByKey(t, k.Value)
			if !ok {
				errs = append(errs, &FieldError{File: file, Line: k.Line, Key: joinKey(path, k.Value), Msg: "unknown key", Err: ErrUnknownKey})
				continue
			}
			errs = append(errs, checkNode(file, joinKey(path, k.Value), v, f.Type)...)
		}
		return errs
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return bad("must be a list (got %s)", describe(n))
		}
		var errs []error
		for i, item := range n.Content {
			errs = append(errs, checkNode(file, path+"["+strconv.Itoa(i)+"]", item, t.Elem())...)
		}
		return errs
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return bad("must be a mapping (got %s)", describe(n))
		}
		var errs []error
		for i := 0; i+1 < len(n.Content); i += 2 {
			errs = append(errs, checkNode(file, joinKey(path, n.Content[i].Value), n.Content[i+1], t.Elem())...)
		}
		return errs
	}
	return checkLeaf(file, path, n, t)
}

// checkMerge checks the value of a "<<" merge key: a mapping or a list of them.
func checkMerge(file, path string, v *yaml.Node, t reflect.Type) []error {
	for v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	if v.Kind != yaml.SequenceNode {
		return checkNode(file, path, v, t)
	}
	var errs []error
	for _, m := range v.Content {
		errs = append(errs, checkNode(file, path, m, t)...)
	}
	return errs
}

// checkLeaf decodes a scalar into a throwaway value of type t.
func checkLeaf(file, path string, n *yaml.Node, t reflect.Type) []error {
	err := n.Decode(reflect.New(t).Interface())
	if err == nil {
		return nil
	}
	var msg string
	switch t.Kind() {
	case reflect.String:
		msg = "must be a string"
	case reflect.Bool:
		msg = "must be true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		msg = "must be an integer"
	default:
		// A type with its own unmarshaler (Duration) words its own message.
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			_, msg = splitLine(te.Errors[0])
			return []error{&FieldError{File: file, Line: n.Line, Key: path, Msg: msg, Err: ErrInvalid}}
		}
		msg = strings.TrimPrefix(err.Error(), "yaml: ")
		return []error{&FieldError{File: file, Line: n.Line, Key: path, Msg: msg, Err: ErrInvalid}}
	}
	return []error{&FieldError{File: file, Line: n.Line, Key: path, Msg: msg + " (got " + describe(n) + ")", Err: ErrInvalid}}
}

// fieldByKey finds the field of struct type t whose yaml key is key.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names what a node holds, for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "an alias"
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// splitLine splits yaml.v3's "line N: message".
func splitLine(s string) (int, string) {
	m := yamlLineRE.FindStringSubmatch(s)
	if m == nil {
		return 0, strings.TrimPrefix(s, "yaml: ")
	}
	line, _ := strconv.Atoi(m[1])
	return line, m[2]
}

// syntaxError turns a yaml.v3 parse error into a FieldError naming the file.
func syntaxError(file string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return typeError(file, err)
	}
	line, msg := splitLine(err.Error())
	return &FieldError{File: file, Line: line, Msg: msg, Err: ErrSyntax}
}

// typeError turns yaml.v3 decode errors into FieldErrors naming the file.
func typeError(file string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return syntaxError(file, err)
	}
	errs := make([]error, 0, len(te.Errors))
	for _, s := range te.Errors {
		line, msg := splitLine(s)
		sentinel := ErrInvalid
		if strings.Contains(msg, " not found in type ") {
			sentinel = ErrUnknownKey
		}
		errs = append(errs, &FieldError{File: file, Line: line, Msg: msg, Err: sentinel})
	}
	return errors.Join(errs...)
}
