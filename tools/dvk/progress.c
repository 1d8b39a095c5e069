/* Progress of the tool's long runs (bench's timed runs, generate's tokens) on stderr. It is
 * shown whether or not stderr is a terminal: a run piped into a log, or under a CI job, shows
 * it too. Only the form depends on the terminal: one line redrawn with \r there, else a line
 * every few seconds, so a log is not flooded. */
#include "dvk_tool.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Runs shorter than this show no progress at all. */
#define PROGRESS_DELAY_S 1.0
/* Between two lines when stderr is no terminal, and between two redraws when it is. */
#define PROGRESS_LINE_S 5.0
#define PROGRESS_REDRAW_S 0.1

double tool_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void tool_progress_start(tool_progress *p, const char *what)
{
    memset(p, 0, sizeof *p);
    snprintf(p->what, sizeof p->what, "%s", what);
    p->start = tool_now_s();
    p->tty = isatty(STDERR_FILENO) != 0;
}

void tool_progress_update(tool_progress *p, const char *fmt, ...)
{
    const double now = tool_now_s();
    if (now - p->start < PROGRESS_DELAY_S)
        return;
    if (p->shown && now - p->last < (p->tty ? PROGRESS_REDRAW_S : PROGRESS_LINE_S))
        return;
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* On a terminal the line is redrawn; trailing blanks clear a longer previous one. */
    if (p->tty)
        fprintf(stderr, "\r%s: %s (%.0f s)    ", p->what, msg, now - p->start);
    else
        fprintf(stderr, "%s: %s (%.0f s)\n", p->what, msg, now - p->start);
    fflush(stderr);
    p->shown = true;
    p->last = now;
}

void tool_progress_end(tool_progress *p)
{
    if (p->shown && p->tty)
        fprintf(stderr, "\n");
    p->shown = false;
}
