// Package serve is the idgen service: the IDs of an idgen Generator for
// programs in any language, over plain HTTP/JSON and over gRPC, gRPC-Web
// and the Connect protocol, all on one port. `idgen serve` runs it with
// Server.Serve, which gives gRPC connections to grpc-go's HTTP/2 transport
// and everything else to net/http (SplitGRPC); a Go program can instead
// mount Server.Handler, which serves it all through net/http and
// connect-go, in a server of its own.
//
// # API
//
//	GET /v1/ids?count=N[&format=json|text][&encoding=decimal|base2|base32|base36|base58|base64]
//	GET /v1/decode/{id}[?encoding=E]
//	GET /livez, GET /readyz, GET /metrics
//	idgen.v1.IDService/Next, idgen.v1.IDService/Decode   (proto/idgen/v1/idgen.proto)
//	grpc.health.v1.Health/Check, server reflection (v1 and v1alpha)
//
// docs/serve.md has the details and examples with curl and grpcurl.
//
// # Guarantees
//
// The IDs are the Generator's: unique across every replica of the service
// and every program that embeds the library on the same Redis namespace,
// increasing within one response. While the Generator cannot issue (it is
// starting, its lease was lost, the clock guard paused it, its fence is
// reached) every request for IDs gets 503 (HTTP) or UNAVAILABLE (gRPC) with
// the reason and a Retry-After, and never an ID. An ID that was issued but
// not delivered (a failed write, a batch cut short) is simply never used
// again: nothing repeats.
//
// A Server is safe for concurrent use.
package serve
