/* The one clock the shells read: monotonic microseconds, the `now` every
 * core takes as an argument. Cores never include this header. */
#pragma once
#include "common/duration.h"

usec_t clock_now_usec(void);
