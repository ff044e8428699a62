// Command wolwait is a sleeping test host's network card: run inside the
// host's network namespace, it listens on a UDP port and, when a real
// Wake-on-LAN magic packet for its MAC address arrives (six 0xFF bytes and
// the address sixteen times), runs its command (the host's sshd, which then
// starts inside the namespace) and exits. Anything else is ignored. Each
// packet is noted on stdout, which the test reads.
//
//	ip netns exec NS wolwait -listen 0.0.0.0:9 -mac 02:00:00:00:00:01 -- /usr/sbin/sshd -f CONFIG
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
)

func main() {
	listen := flag.String("listen", "0.0.0.0:9", "UDP address to listen on")
	macFlag := flag.String("mac", "", "the MAC address that wakes this host")
	flag.Parse()
	mac, err := net.ParseMAC(*macFlag)
	if err != nil || len(mac) != 6 || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: wolwait -listen ADDR -mac MAC -- COMMAND [ARG...]")
		os.Exit(2)
	}
	conn, err := net.ListenPacket("udp4", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wolwait:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s for %s\n", conn.LocalAddr(), mac)
	magic := append(bytes.Repeat([]byte{0xff}, 6), bytes.Repeat(mac, 16)...)
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "wolwait:", err)
			os.Exit(1)
		}
		if !bytes.Contains(buf[:n], magic) {
			fmt.Printf("ignored %d bytes from %s: not a magic packet for %s\n", n, from, mac)
			continue
		}
		fmt.Printf("magic packet from %s: waking\n", from)
		conn.Close()
		break
	}
	cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "wolwait: wake command:", err)
		os.Exit(1)
	}
	fmt.Println("woke")
}
