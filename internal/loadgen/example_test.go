package loadgen_test

import (
	"context"
	"fmt"
	"time"

	"github.com/strom-broker/strom/internal/loadgen"
)

// Produce one million 1 KiB records with lz4 and acks=all, then read them
// back. (Compiled, not run: it needs a broker.)
func ExampleProduce() {
	ctx := context.Background()
	opts := loadgen.Options{
		Bootstrap:   []string{"127.0.0.1:9092"},
		Topic:       "bench",
		Partitions:  6,
		RecordSize:  1024,
		NumRecords:  1_000_000,
		Warmup:      2 * time.Second,
		Compression: "lz4",
	}
	res, err := loadgen.Produce(ctx, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Summary())
	fmt.Println("p99 ack latency:", res.Latency.QuantileDuration(0.99))

	opts.NumRecords = res.Records
	res, err = loadgen.Consume(ctx, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("read %.0f msg/s\n", res.MsgPerSec())
}
