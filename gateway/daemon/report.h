/*
 * report.h - a worker's counters, told to the master (ctl_proto.h):
 * sessions open now and messages by outcome since the worker started.
 * Every change sends the whole set (CTL_STATS) on the stream the master
 * gave (--master-fd), so the master's view is never more than one
 * frame behind, and "smimegw daemon status" reads it from the master.
 * Without a stream (report_open() not called) only the counting is
 * done.
 */
#ifndef REPORT_H
#define REPORT_H

#include <stddef.h>

#include "smtp_proto.h"

/* The stream to the master (taken). */
void report_open(int fd);

/* One message ended: decision is the word of its log line, rep[n] the
 * replies given upstream (ctl_outcome_of()). */
void report_message(const char *decision, const struct smtp_reply *rep,
		    size_t n);

/* The number of open sessions changed. */
void report_sessions(size_t n);

#endif
