// Package wol wakes sleeping transcode hosts with a Wake-on-LAN magic
// packet: six 0xFF bytes and the MAC address sixteen times, in one UDP
// datagram to the host's broadcast address (or, for a host behind NAT, to a
// unicast address and port forwarded to it).
package wol

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"syscall"
)

// DefaultAddr is where a packet goes when the host names no address: the
// local broadcast address, port 9 (discard), which NICs listen on.
const DefaultAddr = "255.255.255.255:9"

// MagicPacket builds the packet that wakes the NIC with address mac.
func MagicPacket(mac string) ([]byte, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return nil, fmt.Errorf("wake-on-lan: %q is not a MAC address", mac)
	}
	return append(bytes.Repeat([]byte{0xff}, 6), bytes.Repeat(hw, 16)...), nil
}

// Addr completes a configured address: "" is DefaultAddr, a host without a
// port gets port 9.
func Addr(addr string) string {
	switch {
	case addr == "":
		return DefaultAddr
	case strings.Count(addr, ":") == 1 || strings.HasPrefix(addr, "["):
		return addr
	}
	return net.JoinHostPort(addr, "9")
}

// Send sends the magic packet for mac to addr (see Addr). Broadcasting is
// allowed on the socket (SO_BROADCAST), which a broadcast address needs.
func Send(addr, mac string) error {
	pkt, err := MagicPacket(mac)
	if err != nil {
		return err
	}
	raddr, err := net.ResolveUDPAddr("udp4", Addr(addr))
	if err != nil {
		return fmt.Errorf("wake-on-lan to %s: %w", addr, err)
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	conn, err := lc.ListenPacket(nil, "udp4", ":0")
	if err != nil {
		return fmt.Errorf("wake-on-lan: %w", err)
	}
	defer conn.Close()
	if _, err := conn.WriteTo(pkt, raddr); err != nil {
		return fmt.Errorf("wake-on-lan to %s: %w", raddr, err)
	}
	return nil
}
