/*
 * replay.c - run libFuzzer inputs through LLVMFuzzerTestOneInput without
 * libFuzzer, so that a corpus replays as an ordinary test under any
 * compiler (gcc, with or without sanitizers).
 *
 *	replay FILE|DIR...
 *
 * Each file named, and each regular file directly inside each directory
 * named, is read whole and passed to the target once.  Exit status 0
 * when every input ran (the target aborts on a finding), 1 on a usage
 * or read error.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX (64u * 1024u * 1024u) /* largest input accepted */

static int
run_file(const char *path)
{
	FILE *f = NULL;
	uint8_t *buf = NULL;
	long sz;
	size_t n;
	int r = -1;

	if ((f = fopen(path, "rb")) == NULL) {
		perror(path);
		goto out;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		perror(path);
		goto out;
	}
	if ((unsigned long)sz > REPLAY_MAX) {
		fprintf(stderr, "%s: larger than %u bytes\n", path, REPLAY_MAX);
		goto out;
	}
	/* One spare byte so that an empty file still has a buffer. */
	if ((buf = malloc((size_t)sz + 1)) == NULL) {
		perror("malloc");
		goto out;
	}
	n = fread(buf, 1, (size_t)sz, f);
	if (n != (size_t)sz || ferror(f)) {
		fprintf(stderr, "%s: short read\n", path);
		goto out;
	}
	(void)LLVMFuzzerTestOneInput(buf, n);
	r = 0;
out:
	if (f != NULL)
		fclose(f);
	free(buf);
	return r;
}

static int
run_dir(const char *dir, unsigned *count)
{
	DIR *d = NULL;
	struct dirent *de;
	struct stat st;
	char path[4096];
	int r = -1;

	if ((d = opendir(dir)) == NULL) {
		perror(dir);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
				     de->d_name) >= sizeof(path)) {
			fprintf(stderr, "%s/%s: path too long\n", dir,
				de->d_name);
			goto out;
		}
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (run_file(path) != 0)
			goto out;
		(*count)++;
	}
	r = 0;
out:
	if (d != NULL)
		closedir(d);
	return r;
}

int
main(int argc, char **argv)
{
	struct stat st;
	unsigned count = 0;
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 1;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			if (run_dir(argv[i], &count) != 0)
				return 1;
		} else {
			if (run_file(argv[i]) != 0)
				return 1;
			count++;
		}
	}
	printf("replayed %u input(s)\n", count);
	return 0;
}
