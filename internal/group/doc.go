// Package group is the consumer-group coordinator: Kafka's classic group
// protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), KIP-848 consumer
// groups (ConsumerGroupHeartbeat) and committed offsets, with state kept as
// records in the compacted internal topic __consumer_offsets.
//
// The package has two layers:
//
//   - Machine (machine.go, classic.go, offsets.go) is a pure state machine
//     over every group this node coordinates. It does no I/O and never reads
//     the clock: each call takes now, and its effects (replies to waiting
//     requests, records to write) are collected for the caller. Tests drive
//     it step by step with a fake clock.
//   - Coordinator (coordinator.go) is the thin driver: one goroutine owns
//     the Machine, arms a single timer at the Machine's next deadline,
//     appends records to __consumer_offsets partitions and reports their
//     durability back in log order, and loads a partition's groups by replaying its log
//     when this node becomes its leader.
//
// A group belongs to partition abs(javaHash(groupID)) % partitions, as in
// Kafka, so a group's coordinator is that partition's leader.
//
// The classic protocol lives in classic.go. KIP-848 consumer groups
// (ConsumerGroupHeartbeat: server-side assignors in assign.go, member
// reconciliation in consumer.go) are a second group kind beside it: a group
// id names either a classic group or a consumer group, and the shared entry
// points (offsets, listing, deletion) dispatch on the kind. Consumer groups
// persist their epoch, members, target and current assignments as Kafka's
// records (consumer_records.go), so their members carry on across a
// coordinator change.
//
// Writes to one partition complete in the order they were appended, and
// requests are queued on the driver in the order a connection sent them
// (Coordinator.begin): pipelined commits apply in order, and an offset
// fetch answers after the writes queued before it.
//
// Concurrency: Machine is not safe for concurrent use; the Coordinator
// serializes all access on its goroutine. Coordinator methods are safe for
// concurrent use and block until the answer is known or ctx ends.
package group
