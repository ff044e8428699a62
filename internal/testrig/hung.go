package testrig

import (
	"fmt"
	"net"
	"strconv"
	"sync"
)

// Hung is a host that accepts TCP and never says a word: ssh's connect
// succeeds and its banner exchange waits forever.
type Hung struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

// ListenHung serves a hung host on addr:port.
func ListenHung(addr string, port int) (*Hung, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("hung host: %w", err)
	}
	h := &Hung{l: l}
	go h.serve()
	return h, nil
}

func (h *Hung) serve() {
	for {
		c, err := h.l.Accept()
		if err != nil {
			return
		}
		h.mu.Lock()
		h.conns = append(h.conns, c) // held open, unread, until Close
		h.mu.Unlock()
	}
}

// Close stops listening and drops every held connection.
func (h *Hung) Close() {
	h.l.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
	h.conns = nil
}
