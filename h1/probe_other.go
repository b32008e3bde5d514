//go:build !unix

package h1

import "net"

// prober is unavailable here: a pooled connection the upstream closed is found when it is used,
// and the request is sent again on a new one.
type prober struct{}

func newProber(net.Conn) *prober { return nil }

func (*prober) alive() bool { return true }

func isReset(error) bool { return false }
