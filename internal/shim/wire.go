package shim

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"time"
)

// The state helper's wire format (keeper.go): a message is its length (an
// unsigned varint) and the exported fields of a keepRequest or keepReply,
// depth first in declaration order: integers as varints, strings and
// slices with their length (a slice's plus one, 0 for nil), an array's
// elements, a pointer as a
// presence byte, a time as a presence byte and Unix nanoseconds. Both
// sides are the same build (KeeperKey), so field order is the contract.
//
// Not JSON: a call uses it once, and encoding/json's first use of a type
// (building its encoders, about 0.3 ms for these) is most of what a call
// would save. Walking the fields by reflection carries a field added to
// any of these types without a change here (TestWireRoundTrip sets every
// one).

var timeType = reflect.TypeOf(time.Time{})

// appendWire appends v's encoding to b.
func appendWire(b []byte, v reflect.Value) []byte {
	switch v.Kind() {
	case reflect.Bool:
		if v.Bool() {
			return append(b, 1)
		}
		return append(b, 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return binary.AppendVarint(b, v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return binary.AppendUvarint(b, v.Uint())
	case reflect.String:
		return append(binary.AppendUvarint(b, uint64(v.Len())), v.String()...)
	case reflect.Slice:
		if v.IsNil() {
			return append(b, 0)
		}
		b = binary.AppendUvarint(b, uint64(v.Len())+1)
		for i := range v.Len() {
			b = appendWire(b, v.Index(i))
		}
		return b
	case reflect.Array:
		for i := range v.Len() {
			b = appendWire(b, v.Index(i))
		}
		return b
	case reflect.Pointer:
		if v.IsNil() {
			return append(b, 0)
		}
		return appendWire(append(b, 1), v.Elem())
	case reflect.Struct:
		if v.Type() == timeType {
			t := v.Interface().(time.Time)
			if t.IsZero() {
				return append(b, 0)
			}
			return binary.AppendVarint(append(b, 1), t.UnixNano())
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				b = appendWire(b, v.Field(i))
			}
		}
		return b
	}
	panic("shim: no wire encoding for " + v.Type().String())
}

// wireReader decodes what appendWire wrote; the first error sticks.
type wireReader struct {
	b   []byte
	err error
}

var errWire = errors.New("malformed state helper message")

func (r *wireReader) uvarint() uint64 {
	n, k := binary.Uvarint(r.b)
	return r.took(n, k)
}

func (r *wireReader) varint() int64 {
	n, k := binary.Varint(r.b)
	return int64(r.took(uint64(n), k))
}

// took consumes a varint of k bytes (k <= 0: malformed) and returns n.
func (r *wireReader) took(n uint64, k int) uint64 {
	if k <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[k:]
	return n
}

func (r *wireReader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *wireReader) fail() {
	r.err = errWire
	r.b = nil
}

// decode sets v (settable) from the message.
func (r *wireReader) decode(v reflect.Value) {
	if r.err != nil {
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(r.byte() == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(r.varint())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(r.uvarint())
	case reflect.String:
		n := r.uvarint()
		if n > uint64(len(r.b)) {
			r.fail()
			return
		}
		v.SetString(string(r.b[:n]))
		r.b = r.b[n:]
	case reflect.Slice:
		n := r.uvarint()
		if n == 0 {
			return
		}
		if n-1 > uint64(len(r.b)) { // every element takes a byte at least
			r.fail()
			return
		}
		s := reflect.MakeSlice(v.Type(), int(n-1), int(n-1))
		for i := range int(n - 1) {
			r.decode(s.Index(i))
		}
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			r.decode(v.Index(i))
		}
	case reflect.Pointer:
		if r.byte() == 1 {
			p := reflect.New(v.Type().Elem())
			r.decode(p.Elem())
			v.Set(p)
		}
	case reflect.Struct:
		if v.Type() == timeType {
			if r.byte() == 1 {
				v.Set(reflect.ValueOf(time.Unix(0, r.varint())))
			}
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				r.decode(v.Field(i))
			}
		}
	default:
		panic("shim: no wire decoding for " + v.Type().String())
	}
}

// writeMsg writes m (a pointer to a message struct) as one message.
func writeMsg(w io.Writer, m any) error {
	body := appendWire(nil, reflect.ValueOf(m).Elem())
	_, err := w.Write(append(binary.AppendUvarint(nil, uint64(len(body))), body...))
	return err
}

// readMsg reads one message into m (a pointer to a message struct); a
// message longer than maxKeepBytes is refused.
func readMsg(r *bufio.Reader, m any) error {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return err
	}
	return readBody(r, n, m)
}

// readBody reads a message of n bytes (its length read) into m.
func readBody(r *bufio.Reader, n uint64, m any) error {
	if n > maxKeepBytes {
		return fmt.Errorf("state helper message of %d bytes: too long", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return err
	}
	wr := wireReader{b: body}
	wr.decode(reflect.ValueOf(m).Elem())
	if wr.err == nil && len(wr.b) != 0 {
		wr.err = errWire
	}
	return wr.err
}
