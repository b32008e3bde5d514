package transport

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http/httptest"
)

func pemOf(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}) }

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// testCAOnly is a pool with only the test server's certificate.
func testCAOnly(srv *httptest.Server) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(srv.Certificate())
	return p
}

type (
	contextT = context.Context
	netConn  = net.Conn
)
