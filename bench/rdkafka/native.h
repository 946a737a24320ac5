#ifndef STROM_BENCH_NATIVE_H
#define STROM_BENCH_NATIVE_H

#include <stdint.h>

// phase is what one native phase reports back to Go. err is empty on success.
typedef struct {
	int64_t nanos;     // from the first produce call / first record to the last report / record
	int64_t records;   // delivered (produce) or read (consume)
	int64_t failed;    // delivery reports with an error (produce)
	char err[512];
} phase;

// native_produce and native_consume take the client configuration as
// parallel arrays of nconf names and values.
void native_produce(const char **names, const char **values, int nconf,
                    const char *topic, int64_t count, int size,
                    int64_t timeout_ms, phase *out);
void native_consume(const char **names, const char **values, int nconf,
                    const char *topic, int partitions, int64_t count, int size,
                    int64_t timeout_ms, phase *out);
// native_consume_group reads count records of topic as a member of the
// consumer group named by the group.id setting (subscribe, auto commit),
// then commits synchronously; nanos runs from the first record to the end
// of that commit.
void native_consume_group(const char **names, const char **values, int nconf,
                          const char *topic, int64_t count, int size,
                          int64_t timeout_ms, phase *out);

#endif
