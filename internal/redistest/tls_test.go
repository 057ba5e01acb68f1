package redistest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
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

	require.NoError(t, s.Client(t).Set(context.Background(), "k", "v", 0).Err(), "TLS client trusting the CA")

	// The port speaks only TLS: a plain client gets no answer.
	require.Error(t, pingWith(t, &redis.Options{Addr: s.Addr}), "plain-text client got an answer from a TLS-only server")

	// A client that trusts another CA refuses the server.
	o := s.Options()
	o.TLSConfig = rogue.ClientConfig()
	err := pingWith(t, o)
	require.True(t, isUnknownAuthority(err), "client trusting another CA: got %v, want unknown authority", err)

	// A server whose certificate another CA signed is refused by our clients.
	impostor := Start(t, Config{TLS: rogue})
	o = impostor.Options()
	o.TLSConfig = ca.ClientConfig()
	err = pingWith(t, o)
	require.True(t, isUnknownAuthority(err), "server signed by another CA: got %v, want unknown authority", err)

	// The rediss:// URL plus the CA works; plain redis:// does not.
	u, err := redis.ParseURL(s.URL())
	require.NoError(t, err, "ParseURL(%q)", s.URL())
	require.NotNil(t, u.TLSConfig, "ParseURL(%q): %+v", s.URL(), u)
	u.TLSConfig.RootCAs = ca.Pool()
	require.NoError(t, pingWith(t, u), "rediss URL with the CA")
	u.TLSConfig.RootCAs = nil // system roots
	err = pingWith(t, u)
	require.True(t, isUnknownAuthority(err), "rediss URL with system roots: got %v, want unknown authority", err)

	// There is no plain-text port at all.
	p, err := s.Client(t).ConfigGet(context.Background(), "port").Result()
	require.NoError(t, err, "plain-text port")
	require.Equal(t, "0", p["port"], "plain-text port")
}

func TestTLSClientCertificates(t *testing.T) {
	t.Parallel()
	ca, rogue := NewCA(t), NewCA(t)
	s := Start(t, Config{TLS: ca, TLSAuthClients: true, Password: "pw"})
	require.NoError(t, s.Client(t).Ping(context.Background()).Err(), "client with a certificate from the CA")
	o := s.Options()
	o.TLSConfig = ca.ClientConfig()
	require.Error(t, pingWith(t, o), "client without a certificate was let in")
	o = s.Options()
	o.TLSConfig = ca.ClientConfig()
	o.TLSConfig.Certificates = []tls.Certificate{rogue.Issue(t, "rogue").Cert}
	require.Error(t, pingWith(t, o), "client with a certificate from another CA was let in")
	o = s.Options()
	o.TLSConfig = ca.ClientConfigWithCert(t, "someone")
	require.NoError(t, pingWith(t, o), "client with a fresh certificate from the CA")
}

func TestTLSReplication(t *testing.T) {
	t.Parallel()
	ca := NewCA(t)
	master, reps := StartReplicated(t, Config{TLS: ca, TLSAuthClients: true}, 1)
	ctx := context.Background()
	require.NoError(t, master.Client(t).Set(ctx, "k", "v", 0).Err())
	WaitSynced(t, master, reps...)
	v, err := reps[0].Client(t).Get(ctx, "k").Result()
	require.NoError(t, err, "replica over TLS")
	require.Equal(t, "v", v, "replica over TLS")
}

func TestIssueHosts(t *testing.T) {
	ca := NewCA(t)
	kp := ca.Issue(t, "node", "10.1.2.3", "redis.test")
	leaf, err := x509.ParseCertificate(kp.Cert.Certificate[0])
	require.NoError(t, err)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "redis.test"})
	require.NoError(t, err, "verify DNS name")
	require.NoError(t, leaf.VerifyHostname("10.1.2.3"), "verify IP")
	require.Error(t, leaf.VerifyHostname("127.0.0.1"), "certificate valid for a host it was not issued for")
	_, err = leaf.Verify(x509.VerifyOptions{Roots: NewCA(t).Pool()})
	require.Error(t, err, "certificate verified against another CA")
}
