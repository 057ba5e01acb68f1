package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority made for one test. Its fields are read-only
// after NewCA; its methods are safe for concurrent use.
type CA struct {
	Cert     *x509.Certificate
	CertPEM  []byte
	CertFile string // CertPEM in a file, for redis-server and command-line tools

	key *ecdsa.PrivateKey
}

// KeyPair is a certificate signed by a CA and its private key.
type KeyPair struct {
	Cert     tls.Certificate
	CertPEM  []byte
	KeyPEM   []byte
	CertFile string
	KeyFile  string
}

// NewCA makes a fresh ECDSA P-256 certificate authority, valid for a day.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("redistest: CA key: %v", err)
	}
	serial := newSerial(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "redistest CA " + serial.Text(16)[:8], Organization: []string{"redistest"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("redistest: CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("redistest: CA certificate: %v", err)
	}
	ca := &CA{Cert: cert, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), key: key}
	ca.CertFile = filepath.Join(t.TempDir(), "ca.crt")
	writeFile(t, ca.CertFile, ca.CertPEM)
	return ca
}

func newSerial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("redistest: serial: %v", err)
	}
	return n.Add(n, big.NewInt(1<<32)) // long enough for the CA name
}

// Pool returns a certificate pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// ClientConfig returns a client TLS config that trusts only this CA. The
// server name comes from the address dialled (127.0.0.1 or localhost).
func (ca *CA) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
}

// ClientConfigWithCert is ClientConfig plus a client certificate named name
// and signed by this CA, for servers started with TLSAuthClients.
func (ca *CA) ClientConfigWithCert(t testing.TB, name string) *tls.Config {
	t.Helper()
	c := ca.ClientConfig()
	c.Certificates = []tls.Certificate{ca.Issue(t, name).Cert}
	return c
}

// Issue makes a certificate for name, good for both server and client
// authentication, signed by this CA. hosts are its DNS names and IP
// addresses; none means 127.0.0.1, ::1 and localhost. The PEM files are
// written to a temporary directory of t.
func (ca *CA) Issue(t testing.TB, name string, hosts ...string) *KeyPair {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1", "::1", "localhost"}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("redistest: key for %s: %v", name, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(t),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"redistest"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("redistest: certificate for %s: %v", name, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("redistest: key for %s: %v", name, err)
	}
	kp := &KeyPair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	kp.Cert, err = tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		t.Fatalf("redistest: key pair for %s: %v", name, err)
	}
	dir := t.TempDir()
	kp.CertFile, kp.KeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, kp.CertFile, kp.CertPEM)
	writeFile(t, kp.KeyFile, kp.KeyPEM)
	return kp
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatalf("redistest: %v", err)
	}
}

// setupTLS issues the server's certificate and its own client config, and
// returns the redis-server TLS arguments other than the port.
func (s *Server) setupTLS(t testing.TB) []string {
	t.Helper()
	ca := s.cfg.TLS
	kp := ca.Issue(t, "redistest-server")
	if s.cfg.TLSAuthClients {
		s.clientTLS = ca.ClientConfigWithCert(t, "redistest-admin")
	} else {
		s.clientTLS = ca.ClientConfig()
	}
	return []string{
		"--tls-cert-file", kp.CertFile,
		"--tls-key-file", kp.KeyFile,
		"--tls-ca-cert-file", ca.CertFile,
		"--tls-auth-clients", yesNo(s.cfg.TLSAuthClients),
		"--tls-replication", "yes",
		"--tls-cluster", "yes",
	}
}

func yesNo(b bool) string { return map[bool]string{true: "yes", false: "no"}[b] }
