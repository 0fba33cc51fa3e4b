// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Runner of the kernel-facing cases (fake or real kernel, per kenv).
 *
 * Prints TAP on stdout, one line per case: Check writes it (to a temporary
 * file) and this runner copies it, turning a case that ended in
 * kenv_skip() ("not ok N - ...: SKIP: why") into "ok N - ... # SKIP why".
 * Check's own output is silenced: it would show a skip as a failure.
 * Exit: 1 if a case failed, or, on the real kernel, if one was skipped
 * (the VM must run every case); else 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kenv.h"

static bool is_skip(TestResult *tr)
{
	return tr_rtype(tr) == CK_FAILURE && tr_ctx(tr) == CK_CTX_TEST &&
	       strncmp(tr_msg(tr), KENV_SKIP, strlen(KENV_SKIP)) == 0;
}

/* Copy Check's TAP from @tap to stdout, skips as TAP skips. */
static void print_tap(FILE *tap)
{
	static const char mark[] = ": " KENV_SKIP;
	char line[4096];

	while (fgets(line, sizeof(line), tap)) {
		char *m = strstr(line, mark);

		if (m && strncmp(line, "not ok ", 7) == 0) {
			*m = '\0';
			printf("ok %s # SKIP %s", line + 7, m + strlen(mark));
		} else {
			fputs(line, stdout);
		}
	}
}

/* The details Check's silenced output would have shown for a failure. */
static void print_failures(SRunner *sr, unsigned int *nskip)
{
	TestResult **r = srunner_results(sr);
	int n = srunner_ntests_run(sr);

	*nskip = 0;
	for (int i = 0; r && i < n; i++) {
		if (is_skip(r[i]))
			(*nskip)++;
		else if (tr_rtype(r[i]) != CK_PASS)
			printf("# %s:%d: %s: %s\n", tr_lfile(r[i]), tr_lno(r[i]),
			       tr_tcname(r[i]), tr_msg(r[i]));
	}
	free(r);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char path[4096];
	SRunner *sr = srunner_create(kcase_device_suite());
	unsigned int nskip;
	int nrun, nfail, fd;
	FILE *tap;

	snprintf(path, sizeof(path), "%s/kt-tap-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	fd = mkstemp(path);
	if (fd < 0) {
		perror(path);
		return EXIT_FAILURE;
	}
	close(fd);
	srunner_add_suite(sr, kcase_mig_suite());
	srunner_add_suite(sr, kcase_dirty_suite());
	srunner_add_suite(sr, kcase_devset_suite());
	srunner_add_suite(sr, kcase_region_suite());
	srunner_add_suite(sr, kcase_dma_suite());
	srunner_add_suite(sr, kcase_uapi_suite());
	srunner_add_suite(sr, kcase_open_suite());
	srunner_add_suite(sr, kcase_session_suite());
	srunner_add_suite(sr, kcase_threads_suite());
	srunner_add_suite(sr, kcase_kenv_suite());
	srunner_set_tap(sr, path);
	srunner_run_all(sr, CK_SILENT);
	nrun = srunner_ntests_run(sr);
	tap = fopen(path, "r");
	if (tap) {
		print_tap(tap);
		fclose(tap);
	} else {
		perror(path);
	}
	unlink(path);
	print_failures(sr, &nskip);
	nfail = srunner_ntests_failed(sr) - (int)nskip;
	printf("# %s kernel: %d cases: %d passed, %d failed, %u skipped\n",
	       kenv_is_real() ? "real" : "fake", nrun, nrun - nfail - (int)nskip,
	       nfail, nskip);
	if (nskip && kenv_is_real())
		printf("# a skip is a failure on the real kernel: the VM runs every case\n");
	srunner_free(sr);
	if (!tap)
		return EXIT_FAILURE;
	return nfail || (nskip && kenv_is_real()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
