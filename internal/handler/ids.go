package handler

import "github.com/strom-broker/strom/internal/ids"

// Broker ids cross into kmsg as int32s here, at the handler boundary;
// inside the broker they are ids.NodeID.

// wireIDs copies node ids into the int32s a response carries (never nil).
func wireIDs(s []ids.NodeID) []int32 {
	out := make([]int32, len(s))
	for i, id := range s {
		out[i] = int32(id)
	}
	return out
}

// nodeIDs copies the int32 broker ids of a request into node ids; nil stays
// nil (a reassignment's "cancel").
func nodeIDs(s []int32) []ids.NodeID {
	if s == nil {
		return nil
	}
	out := make([]ids.NodeID, len(s))
	for i, id := range s {
		out[i] = ids.NodeID(id)
	}
	return out
}
