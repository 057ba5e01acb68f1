package redistest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func pingWith(t *testing.T, o *redis.Options) error {
	t.Helper()
	o.MaxRetries = -1
	o.DialTimeout = 2 * time.Second
	c := redis.NewClient(o)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

func isUnknownAuthority(err error) bool {
	var ua x509.UnknownAuthorityError
	var ve *tls.CertificateVerificationError
	return errors.As(err, &ua) || errors.As(err, &ve)
}

func TestTLSOnlyServer(t *testing.T) {
	t.Parallel()
	ca, rogue := NewCA(t), NewCA(t)
	s := Start(t, Config{TLS: ca})

	if err := s.Client(t).Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatalf("TLS client trusting the CA: %v", err)
	}

	// The port speaks only TLS: a plain client gets no answer.
	if err := pingWith(t, &redis.Options{Addr: s.Addr}); err == nil {
		t.Fatal("plain-text client got an answer from a TLS-only server")
	}

	// A client that trusts another CA refuses the server.
	o := s.Options()
	o.TLSConfig = rogue.ClientConfig()
	if err := pingWith(t, o); !isUnknownAuthority(err) {
		t.Fatalf("client trusting another CA: got %v, want unknown authority", err)
	}

	// A server whose certificate another CA signed is refused by our clients.
	impostor := Start(t, Config{TLS: rogue})
	o = impostor.Options()
	o.TLSConfig = ca.ClientConfig()
	if err := pingWith(t, o); !isUnknownAuthority(err) {
		t.Fatalf("server signed by another CA: got %v, want unknown authority", err)
	}

	// The rediss:// URL plus the CA works; plain redis:// does not.
	u, err := redis.ParseURL(s.URL())
	if err != nil || u.TLSConfig == nil {
		t.Fatalf("ParseURL(%q): %+v, %v", s.URL(), u, err)
	}
	u.TLSConfig.RootCAs = ca.Pool()
	if err := pingWith(t, u); err != nil {
		t.Fatalf("rediss URL with the CA: %v", err)
	}
	u.TLSConfig.RootCAs = nil // system roots
	if err := pingWith(t, u); !isUnknownAuthority(err) {
		t.Fatalf("rediss URL with system roots: got %v, want unknown authority", err)
	}

	// There is no plain-text port at all.
	if p, err := s.Client(t).ConfigGet(context.Background(), "port").Result(); err != nil || p["port"] != "0" {
		t.Fatalf("plain-text port: %v, %v", p, err)
	}
}

func TestTLSClientCertificates(t *testing.T) {
	t.Parallel()
	ca, rogue := NewCA(t), NewCA(t)
	s := Start(t, Config{TLS: ca, TLSAuthClients: true, Password: "pw"})
	if err := s.Client(t).Ping(context.Background()).Err(); err != nil {
		t.Fatalf("client with a certificate from the CA: %v", err)
	}
	o := s.Options()
	o.TLSConfig = ca.ClientConfig()
	if err := pingWith(t, o); err == nil {
		t.Fatal("client without a certificate was let in")
	}
	o = s.Options()
	o.TLSConfig = ca.ClientConfig()
	o.TLSConfig.Certificates = []tls.Certificate{rogue.Issue(t, "rogue").Cert}
	if err := pingWith(t, o); err == nil {
		t.Fatal("client with a certificate from another CA was let in")
	}
	o = s.Options()
	o.TLSConfig = ca.ClientConfigWithCert(t, "someone")
	if err := pingWith(t, o); err != nil {
		t.Fatalf("client with a fresh certificate from the CA: %v", err)
	}
}

func TestTLSReplication(t *testing.T) {
	t.Parallel()
	ca := NewCA(t)
	master, reps := StartReplicated(t, Config{TLS: ca, TLSAuthClients: true}, 1)
	ctx := context.Background()
	if err := master.Client(t).Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	WaitSynced(t, master, reps...)
	if v, err := reps[0].Client(t).Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("replica over TLS: %q, %v", v, err)
	}
}

func TestIssueHosts(t *testing.T) {
	ca := NewCA(t)
	kp := ca.Issue(t, "node", "10.1.2.3", "redis.test")
	leaf, err := x509.ParseCertificate(kp.Cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "redis.test"}); err != nil {
		t.Fatalf("verify DNS name: %v", err)
	}
	if err := leaf.VerifyHostname("10.1.2.3"); err != nil {
		t.Fatalf("verify IP: %v", err)
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err == nil {
		t.Fatal("certificate valid for a host it was not issued for")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: NewCA(t).Pool()}); err == nil {
		t.Fatal("certificate verified against another CA")
	}
}
