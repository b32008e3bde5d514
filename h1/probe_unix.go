//go:build unix

package h1

import (
	"errors"
	"net"
	"syscall"
)

// prober tells whether an idle pooled connection is still open, without blocking and without
// consuming data: a peer that closed it has left an EOF (or a reset) in the socket.
type prober struct {
	rc  syscall.RawConn
	buf [1]byte
	ok  bool
	// fn is built once per connection, so a probe allocates nothing.
	fn func(fd uintptr) bool
}

func newProber(nc net.Conn) *prober {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	p := &prober{rc: rc}
	p.fn = func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Nothing to read is the healthy answer for an idle connection. Bytes waiting on an
		// idle connection are a protocol error: that connection is not reused either.
		p.ok = n < 0 && (errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK))
		return true
	}
	return p
}

func (p *prober) alive() bool {
	if err := p.rc.Read(p.fn); err != nil {
		return false
	}
	return p.ok
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
