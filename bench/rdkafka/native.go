package main

// #include <stdlib.h>
// #include "native.h"
import "C"

import (
	"errors"
	"sort"
	"time"
	"unsafe"
)

// The C loops in native.c use the librdkafka that confluent-kafka-go links
// into this binary; the blank import in main.go keeps that library linked.

// nativeProduce produces c.numRecords records from native.c's loop and returns
// the time from the first produce call to the last delivery report, and the
// number of failed deliveries.
func nativeProduce(c config, conf map[string]string) (time.Duration, int64, error) {
	out, err := runNative(c, conf, func(names, values **C.char, n C.int, topic *C.char, out *C.phase) {
		C.native_produce(names, values, n, topic, C.int64_t(c.numRecords),
			C.int(c.recordSize), C.int64_t(c.timeout.Milliseconds()), out)
	})
	return time.Duration(out.nanos), int64(out.failed), err
}

// nativeConsume reads every partition of c.topic from the beginning with
// native.c's callback consumer and returns the time from the first record to
// the last.
func nativeConsume(c config, conf map[string]string) (time.Duration, error) {
	out, err := runNative(c, conf, func(names, values **C.char, n C.int, topic *C.char, out *C.phase) {
		C.native_consume(names, values, n, topic, C.int(c.partitions),
			C.int64_t(c.numRecords), C.int(c.recordSize), C.int64_t(c.timeout.Milliseconds()), out)
	})
	return time.Duration(out.nanos), err
}

// nativeConsumeGroup reads c.topic as a member of a new consumer group
// (subscribe, auto commit, a synchronous commit at the end) and returns the
// time from the first record to the end of the final commit.
func nativeConsumeGroup(c config, conf map[string]string) (time.Duration, error) {
	out, err := runNative(c, conf, func(names, values **C.char, n C.int, topic *C.char, out *C.phase) {
		C.native_consume_group(names, values, n, topic,
			C.int64_t(c.numRecords), C.int(c.recordSize), C.int64_t(c.timeout.Milliseconds()), out)
	})
	return time.Duration(out.nanos), err
}

// runNative hands conf and c.topic to one of native.c's phases as C strings
// and returns what it reported; a non-empty err field becomes the error.
func runNative(c config, conf map[string]string, phase func(names, values **C.char, n C.int, topic *C.char, out *C.phase)) (C.phase, error) {
	names, values, free := cConf(conf)
	defer free()
	topic := C.CString(c.topic)
	defer C.free(unsafe.Pointer(topic))
	var out C.phase
	phase(names, values, C.int(len(conf)), topic, &out)
	if msg := C.GoString(&out.err[0]); msg != "" {
		return out, errors.New(msg)
	}
	return out, nil
}

// cConf copies conf into two C arrays of C strings, in key order; free
// releases them.
func cConf(conf map[string]string) (names, values **C.char, free func()) {
	keys := make([]string, 0, len(conf))
	for k := range conf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ptrSize := C.size_t(unsafe.Sizeof((*C.char)(nil)))
	n := C.size_t(len(keys) + 1)
	names = (**C.char)(C.calloc(n, ptrSize))
	values = (**C.char)(C.calloc(n, ptrSize))
	ns := unsafe.Slice(names, len(keys))
	vs := unsafe.Slice(values, len(keys))
	for i, k := range keys {
		ns[i], vs[i] = C.CString(k), C.CString(conf[k])
	}
	return names, values, func() {
		for i := range keys {
			C.free(unsafe.Pointer(ns[i]))
			C.free(unsafe.Pointer(vs[i]))
		}
		C.free(unsafe.Pointer(names))
		C.free(unsafe.Pointer(values))
	}
}
