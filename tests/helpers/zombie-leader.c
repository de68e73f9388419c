/* SPDX-License-Identifier: MIT */
/* zombie-leader: a process that looks dead and is not. Its main thread
 * leaves with pthread_exit while a second thread runs on, so /proc shows
 * the process as a zombie ("State: Z") with two threads. The second thread
 * writes the pid to standard output, then a byte every 10 ms for as long as
 * it lives (tests/integration/cleaner.sh). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void *run_on(void *arg) {
        char line[32];

        (void) arg;
        snprintf(line, sizeof(line), "%d\n", (int) getpid());
        if (write(STDOUT_FILENO, line, strlen(line)) < 0)
                return NULL;
        for (;;) {
                if (write(STDOUT_FILENO, ".", 1) < 0)
                        return NULL;
                usleep(10000);
        }
}

int main(void) {
        pthread_t t;

        if (pthread_create(&t, NULL, run_on, NULL) != 0)
                return 1;
        pthread_exit(NULL);
}
