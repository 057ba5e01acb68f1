package snowflake_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/snowlease/idgen/snowflake"
)

func ExampleNew() {
	// A fixed worker ID for the example; in a service the lease package
	// hands one out and sets StartAfter and the fence.
	g, err := snowflake.New(snowflake.Twitter(), 42, snowflake.Options{})
	if err != nil {
		panic(err)
	}
	a, _ := g.Next()
	b, _ := g.Next()
	fmt.Println(b > a, snowflake.Twitter().Decompose(a).Worker)
	// Output: true 42
}

func ExampleGenerator_NextN() {
	g, err := snowflake.New(snowflake.Twitter(), 7, snowflake.Options{})
	if err != nil {
		panic(err)
	}
	batch := make([]snowflake.ID, 100)
	n, err := g.NextN(batch) // one state update for the whole batch
	if err != nil {
		panic(err)
	}
	for _, id := range batch[:n] {
		_ = id // use the IDs
	}
	fmt.Println(n > 0, batch[n-1] > batch[0])
	// Output: true true
}

func ExampleLayout_Decompose() {
	p := snowflake.Twitter().Decompose(1742018900482236423)
	fmt.Println(p.Time.UTC().Format(time.RFC3339Nano))
	fmt.Println("tick", p.Tick, "worker", p.Worker, "sequence", p.Sequence)
	// Output:
	// 2024-01-02T03:04:05.678Z
	// tick 415329671021 worker 42 sequence 7
}

func ExampleLayout_Compose() {
	at := time.Date(2024, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	id, err := snowflake.Twitter().Compose(snowflake.Parts{Time: at, Worker: 42, Sequence: 7})
	fmt.Println(id, err)

	_, err = snowflake.Twitter().Compose(snowflake.Parts{Time: at, Worker: 5000})
	fmt.Println(errors.Is(err, snowflake.ErrWorkerRange))
	fmt.Println(err)
	// Output:
	// 1742018900482236423 <nil>
	// true
	// snowflake: worker ID out of range: Parts.Worker is 5000, allowed 0 to 1023
}

func ExampleID_Base58() {
	id := snowflake.ID(1742018900482236423)
	fmt.Println(id.String())
	fmt.Println(id.Base2())
	fmt.Println(id.Base32())
	fmt.Println(id.Base36())
	fmt.Println(id.Base58())
	fmt.Println(id.Base64())

	back, err := snowflake.ParseBase58(id.Base58())
	fmt.Println(back == id, err)
	_, err = snowflake.ParseBase58("0OIl")
	fmt.Println(errors.Is(err, snowflake.ErrInvalidID))
	// Output:
	// 1742018900482236423
	// 1100000101100111001001111010111011011010000101010000000000111
	// bom8r6zpwfey8
	// d8gm5uzrz953
	// 53wPuzb96bg
	// MTc0MjAxODkwMDQ4MjIzNjQyMw==
	// true <nil>
	// true
}

func ExampleID_MarshalJSON() {
	type order struct {
		ID snowflake.ID `json:"id"`
	}
	b, _ := json.Marshal(order{ID: 1742018900482236423})
	fmt.Println(string(b)) // a string: JavaScript numbers lose precision above 2^53

	var fromNumber, fromString order
	_ = json.Unmarshal([]byte(`{"id": 1742018900482236423}`), &fromNumber)
	_ = json.Unmarshal([]byte(`{"id": "1742018900482236423"}`), &fromString)
	fmt.Println(fromNumber.ID == fromString.ID)
	// Output:
	// {"id":"1742018900482236423"}
	// true
}

func ExampleGenerator_SetFence() {
	clockTick := snowflake.Twitter().Tick(time.Now())
	g, err := snowflake.New(snowflake.Twitter(), 1, snowflake.Options{
		StartAfter: clockTick - 1000, // the worker ID's high-water mark
		Fence:      clockTick - 1,    // the lease's fence, already behind the clock
	})
	if err != nil {
		panic(err)
	}
	_, err = g.Next()
	fmt.Println(err)

	g.SetFence(clockTick + 10_000) // the lease was renewed: the fence moves on
	_, err = g.Next()
	fmt.Println(err)
	// Output:
	// snowflake: fence reached
	// <nil>
}

func ExampleLayout_OrDefault() {
	var l snowflake.Layout // a zero Layout in an options struct means the default
	fmt.Println(l.IsZero(), l.OrDefault() == snowflake.Twitter())
	fmt.Println(l.OrDefault().Fingerprint())
	// Output:
	// true true
	// v1 epoch=1288834974657ms unit=1ms bits=41/10/12
}
