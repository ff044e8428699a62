package wol

import (
	"bytes"
	"net"
	"testing"
	"time"
)

func TestMagicPacket(t *testing.T) {
	p, err := MagicPacket("00:11:22:AA:BB:CC")
	if err != nil {
		t.Fatal(err)
	}
	mac := []byte{0x00, 0x11, 0x22, 0xaa, 0xbb, 0xcc}
	if len(p) != 102 || !bytes.Equal(p[:6], bytes.Repeat([]byte{0xff}, 6)) || !bytes.Equal(p[6:], bytes.Repeat(mac, 16)) {
		t.Errorf("packet % x", p)
	}
	for _, bad := range []string{"", "zz:zz", "00:11:22:33:44:55:66:77"} {
		if _, err := MagicPacket(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "255.255.255.255:9"}, {"192.168.1.255", "192.168.1.255:9"}, {"wake.example:7", "wake.example:7"},
	} {
		if got := Addr(tc.in); got != tc.want {
			t.Errorf("Addr(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A real datagram to a real listener, unicast (a host behind NAT).
func TestSend(t *testing.T) {
	l, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := Send(l.LocalAddr().String(), "de:ad:be:ef:00:01"); err != nil {
		t.Fatal(err)
	}
	l.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 200)
	n, _, err := l.ReadFrom(buf)
	want, _ := MagicPacket("de:ad:be:ef:00:01")
	if err != nil || !bytes.Equal(buf[:n], want) {
		t.Errorf("received %d bytes % x, %v", n, buf[:n], err)
	}
}
