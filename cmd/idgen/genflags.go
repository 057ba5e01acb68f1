package main

import (
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/snowlease/idgen"
)

// genFlags are the flags of the commands that run a generator (next,
// serve): the library's Options.
type genFlags struct {
	namespace     string
	layout        *layoutFlag
	ttl           time.Duration
	maxSkew       time.Duration
	minReplicas   int
	allowEviction bool
}

func (g *genFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&g.namespace, "namespace", "idgen", "lease `namespace`: every node that must not collide uses the same one")
	g.layout = newLayoutFlag()
	fs.Var(g.layout, "layout", layoutUsage)
	fs.DurationVar(&g.ttl, "ttl", 10*time.Second, "lease `TTL`; the worker ID is free again this long after a crash")
	fs.DurationVar(&g.maxSkew, "max-skew", 0, "largest clock offset against Redis TIME that is accepted (default 1s, or --ttl/4 when that is less; must be below --ttl)")
	fs.IntVar(&g.minReplicas, "min-replicas", 0, "replicas that must acknowledge every acquire and renewal: 0 waits for every replica the master has had (remembered in the namespace; see `idgen replicas`), -1 never waits")
	fs.BoolVar(&g.allowEviction, "allow-eviction", false, "run on a Redis whose maxmemory-policy is allkeys-* (each eviction of the namespace's keys costs a quarantine)")
}

// options turns the flags into the library's Options, or says which flag
// is wrong.
func (g *genFlags) options(logger *slog.Logger) (idgen.Options, error) {
	if g.minReplicas < -1 || g.minReplicas > 100 {
		return idgen.Options{}, fmt.Errorf("--min-replicas is %d, allowed -1 (never wait), 0 (every replica the master has had) to 100", g.minReplicas)
	}
	if g.namespace == "" {
		return idgen.Options{}, fmt.Errorf("--namespace must not be empty")
	}
	maxSkew := g.maxSkew
	if maxSkew == 0 {
		maxSkew = min(time.Second, g.ttl/4)
	}
	opts := idgen.Options{
		Namespace:     g.namespace,
		Layout:        g.layout.layout,
		TTL:           g.ttl,
		MaxSkew:       maxSkew,
		MinReplicas:   g.minReplicas,
		AllowEviction: g.allowEviction,
		OnLeaseLost:   idgen.Reacquire,
		Logger:        logger,
	}
	if err := opts.Validate(); err != nil {
		return idgen.Options{}, err
	}
	return opts, nil
}
