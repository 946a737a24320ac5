package controller

import (
	"encoding/json"
	"fmt"

	"github.com/strom-broker/strom/internal/errcode"
	"github.com/strom-broker/strom/internal/ids"
)

// Metadata commands are written to the Raft log as one JSON object each
// (docs/storage-format.md, "Metadata commands"):
//
//	{"v":1,"op":"delete_topic","topic":"t","topic_id":[...]}
//
// "v" is the layout version, "op" the type tag, and the command's own
// fields follow at the same level. Version 0 is the layout written before
// commands had types: one union object with "op" and no "v", in which
// every command also carries the fields of the others (empty) — read the
// same way, since each type names its fields as the union did. Version 1
// writes only the command's fields, and so stays readable by version-0
// code: it ignores "v" as it ignores any field it does not know.
const commandVersion = 1

// Errors of decodeCommand that mean "written by a newer version", not
// "damaged".
var (
	errCommandVersion = errcode.ErrCommandVersion
	errUnknownCommand = errcode.ErrUnknownCommand
)

// commandTypes makes an empty command of each type tag.
var commandTypes = map[string]func() command{
	opInit:               func() command { return new(Init) },
	opReadIndex:          func() command { return new(ReadIndex) },
	opCreateTopic:        func() command { return new(CreateTopic) },
	opDeleteTopic:        func() command { return new(DeleteTopic) },
	opCreatePartitions:   func() command { return new(CreatePartitions) },
	opAlterTopicConfigs:  func() command { return new(AlterTopicConfigs) },
	opAlterBrokerConfigs: func() command { return new(AlterBrokerConfigs) },
	opAllocateProducerID: func() command { return new(AllocateProducerIDs) },
	opRegisterBroker:     func() command { return new(RegisterBroker) },
	opFenceBroker:        func() command { return new(FenceBroker) },
	opAlterISR:           func() command { return new(AlterISR) },
	opElectLeader:        func() command { return new(ElectLeader) },
	opElectUnclean:       func() command { return new(ElectUnclean) },
	opReassign:           func() command { return new(Reassign) },
	opCompleteReassign:   func() command { return new(CompleteReassign) },
	opReplicaOffline:     func() command { return new(ReplicaOffline) },
	// Added after version-1 logs existed: an older broker skips it as
	// errUnknownCommand (every node of its version alike) rather than
	// misreading it.
	opAlterScramCredentials: func() command { return new(AlterScramCredentials) },
	opAlterACLs:             func() command { return new(AlterACLs) },
	opAlterClientQuotas:     func() command { return new(AlterClientQuotas) },
}

// encodeCommand writes cmd in the current layout: the header fields, then
// the command's own.
func encodeCommand(cmd command) ([]byte, error) {
	body, err := json.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("encode metadata command %s: %w", cmd.op(), err)
	}
	op, _ := json.Marshal(cmd.op())
	out := fmt.Appendf(nil, `{"v":%d,"op":%s`, commandVersion, op)
	if len(body) > len("{}") {
		out = append(out, ',')
	}
	return append(out, body[1:]...), nil
}

// decodeCommand reads a command of any version up to commandVersion.
func decodeCommand(raw []byte) (command, error) {
	var head struct {
		V  int    `json:"v"`
		Op string `json:"op"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("decode metadata command: %w", err)
	}
	if head.V < 0 || head.V > commandVersion {
		return nil, fmt.Errorf("%w: %q version %d (this broker reads up to %d)", errCommandVersion, head.Op, head.V, commandVersion)
	}
	newCmd, ok := commandTypes[head.Op]
	if !ok {
		return nil, fmt.Errorf("%w %q", errUnknownCommand, head.Op)
	}
	cmd := newCmd()
	if err := json.Unmarshal(raw, cmd); err != nil {
		return nil, fmt.Errorf("decode metadata command %s: %w", head.Op, err)
	}
	return cmd, nil
}

// reassignWire is Reassign as the log holds it: the target is the only
// entry of "assignment" (absent: cancel), the shape of version 0.
type reassignWire struct {
	Topic      string         `json:"topic,omitempty"`
	Partition  int32          `json:"partition,omitempty"`
	Assignment [][]ids.NodeID `json:"assignment,omitempty"`
}

// MarshalJSON implements json.Marshaler.
func (c *Reassign) MarshalJSON() ([]byte, error) {
	w := reassignWire{Topic: c.Topic, Partition: c.Partition}
	if c.Target != nil {
		w.Assignment = [][]ids.NodeID{c.Target}
	}
	return json.Marshal(w)
}

// UnmarshalJSON implements json.Unmarshaler.
func (c *Reassign) UnmarshalJSON(raw []byte) error {
	var w reassignWire
	if err := json.Unmarshal(raw, &w); err != nil {
		return err
	}
	*c = Reassign{Topic: w.Topic, Partition: w.Partition}
	if len(w.Assignment) > 0 {
		c.Target = w.Assignment[0]
		if c.Target == nil {
			c.Target = []ids.NodeID{} // [null]: a target of no replicas, refused by apply
		}
	}
	return nil
}
