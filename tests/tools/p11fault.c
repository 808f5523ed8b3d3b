/*
 * p11fault - a PKCS#11 module for tests that forwards every call to a
 * real module (SoftHSM by default) and makes chosen calls fail with a
 * chosen CK_RV, as a token or HSM fault would: a device error in the
 * middle of a decryption, a session lost between two signatures.
 *
 * Configuration, read from the environment of the process that loads
 * the module:
 *
 *   P11FAULT_MODULE  the real module (default
 *                    /usr/lib/softhsm/libsofthsm2.so);
 *   P11FAULT         rules, separated by ';' or newlines;
 *   P11FAULT_FILE    a file of rules, read again whenever it changes
 *                    (size or modification time), so that a test can
 *                    start and stop a fault in a running process; a
 *                    missing file means no rules of its own;
 *   P11FAULT_LOG     a file to which each injected fault appends
 *                    "p11fault: PID FUNCTION CKR call N", so that a test
 *                    can prove the fault happened.
 *
 * A rule is "FUNCTION CKR [AFTER [TIMES]]": FUNCTION is a PKCS#11
 * function name (C_Decrypt) or "*" for every function except
 * C_GetFunctionList; CKR is a name (CKR_DEVICE_ERROR) or a number
 * (0x30); the first AFTER calls of the function in this process pass
 * (default 0), then TIMES calls fail (default -1: every later call).
 * Lines starting with '#' are comments.  A rule that cannot be parsed
 * makes every call fail with CKR_GENERAL_ERROR and says so on stderr
 * (until P11FAULT_FILE is fixed, when the bad rule was there), so that
 * a typo never passes for a working fault.
 *
 *   P11FAULT='C_Decrypt CKR_DEVICE_ERROR'          every C_Decrypt fails
 *   P11FAULT='C_Sign CKR_SESSION_HANDLE_INVALID 1 1'  the 2nd C_Sign fails
 *
 * Counters are per process and start again when P11FAULT_FILE changes.
 */
#include <sys/stat.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define MAX_RULES 32

struct rule {
	char fn[48];
	CK_RV rv;
	long after;
	long times;
	long calls;	/* calls of fn seen */
	long hits;	/* faults injected */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static CK_FUNCTION_LIST *real;
static CK_FUNCTION_LIST ours;
static void *real_dl;
static struct rule env_rules[MAX_RULES], file_rules[MAX_RULES];
static int n_env = -1, n_file;	/* -1: not parsed yet */
static int env_broken, file_broken; /* a rule did not parse */
static struct stat file_seen;

static const struct {
	const char *name;
	CK_RV rv;
} ckr_names[] = {
#define N(x) {#x, x}
    N(CKR_OK),
    N(CKR_HOST_MEMORY),
    N(CKR_SLOT_ID_INVALID),
    N(CKR_GENERAL_ERROR),
    N(CKR_FUNCTION_FAILED),
    N(CKR_ARGUMENTS_BAD),
    N(CKR_DEVICE_ERROR),
    N(CKR_DEVICE_MEMORY),
    N(CKR_DEVICE_REMOVED),
    N(CKR_ENCRYPTED_DATA_INVALID),
    N(CKR_ENCRYPTED_DATA_LEN_RANGE),
    N(CKR_FUNCTION_CANCELED),
    N(CKR_KEY_HANDLE_INVALID),
    N(CKR_MECHANISM_INVALID),
    N(CKR_MECHANISM_PARAM_INVALID),
    N(CKR_OBJECT_HANDLE_INVALID),
    N(CKR_OPERATION_ACTIVE),
    N(CKR_OPERATION_NOT_INITIALIZED),
    N(CKR_PIN_INCORRECT),
    N(CKR_PIN_LOCKED),
    N(CKR_SESSION_CLOSED),
    N(CKR_SESSION_COUNT),
    N(CKR_SESSION_HANDLE_INVALID),
    N(CKR_TOKEN_NOT_PRESENT),
    N(CKR_TOKEN_NOT_RECOGNIZED),
    N(CKR_USER_NOT_LOGGED_IN),
    N(CKR_BUFFER_TOO_SMALL),
    N(CKR_CRYPTOKI_NOT_INITIALIZED),
#undef N
};

static int
parse_ckr(const char *s, CK_RV *rv)
{
	char *end;
	size_t i;

	for (i = 0; i < sizeof(ckr_names) / sizeof(ckr_names[0]); i++)
		if (strcmp(s, ckr_names[i].name) == 0) {
			*rv = ckr_names[i].rv;
			return 0;
		}
	errno = 0;
	*rv = strtoul(s, &end, 0);
	return errno != 0 || end == s || *end != '\0' ? -1 : 0;
}

static const char *
ckr_name(CK_RV rv)
{
	size_t i;

	for (i = 0; i < sizeof(ckr_names) / sizeof(ckr_names[0]); i++)
		if (ckr_names[i].rv == rv)
			return ckr_names[i].name;
	return "CKR_?";
}

/* One rule from a line; 0 for a blank or comment line, 1 for a rule,
 * -1 when it does not parse. */
static int
parse_rule(char *line, struct rule *r)
{
	char fn[64], ckr[64], extra[8];
	long after = 0, times = -1;
	int n;

	line += strspn(line, " \t\r");
	if (*line == '\0' || *line == '#')
		return 0;
	n = sscanf(line, "%63s %63s %ld %ld %7s", fn, ckr, &after, &times,
		   extra);
	if (n < 2 || n > 4 || strlen(fn) >= sizeof(r->fn) || after < 0 ||
	    parse_ckr(ckr, &r->rv) != 0)
		return -1;
	memset(r, 0, sizeof(*r));
	parse_ckr(ckr, &r->rv);
	memcpy(r->fn, fn, strlen(fn) + 1);
	r->after = after;
	r->times = times;
	return 1;
}

static int
parse_rules(const char *text, struct rule *rules, int *broken)
{
	char *copy, *line, *save = NULL;
	int n = 0, rc;

	if (text == NULL || (copy = strdup(text)) == NULL)
		return 0;
	for (line = strtok_r(copy, ";\n", &save); line != NULL;
	     line = strtok_r(NULL, ";\n", &save)) {
		if (n == MAX_RULES)
			rc = -1;
		else
			rc = parse_rule(line, &rules[n]);
		if (rc < 0) {
			fprintf(stderr, "p11fault: bad rule '%s' (wanted "
				"FUNCTION CKR [AFTER [TIMES]]): every call "
				"fails\n", line);
			*broken = 1;
		} else
			n += rc;
	}
	free(copy);
	return n;
}

/* Reads P11FAULT_FILE again when it changed. */
static void
refresh_file(void)
{
	const char *path = getenv("P11FAULT_FILE");
	struct stat st;
	char *text = NULL;
	FILE *f;
	long len;

	if (path == NULL)
		return;
	if (stat(path, &st) != 0)
		memset(&st, 0, sizeof(st));
	if (st.st_size == file_seen.st_size &&
	    st.st_mtim.tv_sec == file_seen.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == file_seen.st_mtim.tv_nsec &&
	    st.st_ino == file_seen.st_ino)
		return;
	file_seen = st;
	n_file = 0;
	file_broken = 0;
	if ((f = fopen(path, "r")) == NULL)
		return;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (text = calloc(1, len + 1)) != NULL &&
	    fread(text, 1, len, f) == (size_t)len)
		n_file = parse_rules(text, file_rules, &file_broken);
	free(text);
	fclose(f);
}

static void
log_fault(const char *fn, CK_RV rv, long call)
{
	const char *path = getenv("P11FAULT_LOG");
	FILE *f;

	if (path == NULL || (f = fopen(path, "a")) == NULL)
		return;
	fprintf(f, "p11fault: %ld %s %s call %ld\n", (long)getpid(), fn,
		ckr_name(rv), call);
	fclose(f);
}

static int
rule_hit(struct rule *r, const char *fn, CK_RV *rv)
{
	if (strcmp(r->fn, fn) != 0 &&
	    (strcmp(r->fn, "*") != 0 || strcmp(fn, "C_GetFunctionList") == 0))
		return 0;
	r->calls++;
	if (r->calls <= r->after || (r->times >= 0 && r->hits >= r->times))
		return 0;
	r->hits++;
	*rv = r->rv;
	log_fault(fn, r->rv, r->calls);
	return 1;
}

/* Whether the call of fn fails, and with what. */
static int
fault(const char *fn, CK_RV *rv)
{
	int i, hit = 0;

	pthread_mutex_lock(&lock);
	if (n_env < 0)
		n_env = parse_rules(getenv("P11FAULT"), env_rules, &env_broken);
	refresh_file();
	if (env_broken || file_broken) {
		*rv = CKR_GENERAL_ERROR;
		hit = 1;
	}
	for (i = 0; !hit && i < n_env; i++)
		hit = rule_hit(&env_rules[i], fn, rv);
	for (i = 0; !hit && i < n_file; i++)
		hit = rule_hit(&file_rules[i], fn, rv);
	pthread_mutex_unlock(&lock);
	return hit;
}

/* ---- the wrappers ----------------------------------------------------- */

#define W(name, params, args)                                                 \
	static CK_RV w_##name params                                          \
	{                                                                     \
		CK_RV rv;                                                     \
                                                                              \
		if (fault(#name, &rv))                                        \
			return rv;                                            \
		return real->name args;                                       \
	}

/*
 * The single-part and final calls of an operation (C_Decrypt, C_Sign,
 * C_SignFinal ...) end the operation in the module whether they succeed
 * or fail (PKCS#11 v2.40 5.2).  Their fault is injected after the real
 * call, so that the module is left as a failing device would leave it:
 * the operation over, its output lost.  (A length query, with a NULL
 * output buffer, does not end the operation in the real module.)  Any
 * other call fails without reaching the module.
 */
#define WE(name, params, args)                                                \
	static CK_RV w_##name params                                          \
	{                                                                     \
		CK_RV rv;                                                     \
                                                                              \
		if (!fault(#name, &rv))                                       \
			return real->name args;                               \
		(void)real->name args;                                        \
		return rv;                                                    \
	}

#define S CK_SESSION_HANDLE s
#define M CK_MECHANISM_PTR m
#define O CK_OBJECT_HANDLE o
#define BP CK_BYTE_PTR
#define UL CK_ULONG
#define ULP CK_ULONG_PTR
#define AP CK_ATTRIBUTE_PTR

W(C_Initialize, (CK_VOID_PTR a), (a))
W(C_Finalize, (CK_VOID_PTR a), (a))
W(C_GetInfo, (CK_INFO_PTR a), (a))
W(C_GetSlotList, (CK_BBOOL a, CK_SLOT_ID_PTR b, ULP c), (a, b, c))
W(C_GetSlotInfo, (CK_SLOT_ID a, CK_SLOT_INFO_PTR b), (a, b))
W(C_GetTokenInfo, (CK_SLOT_ID a, CK_TOKEN_INFO_PTR b), (a, b))
W(C_GetMechanismList, (CK_SLOT_ID a, CK_MECHANISM_TYPE_PTR b, ULP c),
  (a, b, c))
W(C_GetMechanismInfo,
  (CK_SLOT_ID a, CK_MECHANISM_TYPE b, CK_MECHANISM_INFO_PTR c), (a, b, c))
W(C_InitToken, (CK_SLOT_ID a, BP b, UL c, BP d), (a, b, c, d))
W(C_InitPIN, (S, BP b, UL c), (s, b, c))
W(C_SetPIN, (S, BP b, UL c, BP d, UL e), (s, b, c, d, e))
W(C_OpenSession,
  (CK_SLOT_ID a, CK_FLAGS b, CK_VOID_PTR c, CK_NOTIFY d,
   CK_SESSION_HANDLE_PTR e),
  (a, b, c, d, e))
W(C_CloseSession, (S), (s))
W(C_CloseAllSessions, (CK_SLOT_ID a), (a))
W(C_GetSessionInfo, (S, CK_SESSION_INFO_PTR b), (s, b))
W(C_GetOperationState, (S, BP b, ULP c), (s, b, c))
W(C_SetOperationState, (S, BP b, UL c, CK_OBJECT_HANDLE d, CK_OBJECT_HANDLE e),
  (s, b, c, d, e))
W(C_Login, (S, CK_USER_TYPE b, BP c, UL d), (s, b, c, d))
W(C_Logout, (S), (s))
W(C_CreateObject, (S, AP b, UL c, CK_OBJECT_HANDLE_PTR d), (s, b, c, d))
W(C_CopyObject, (S, O, AP b, UL c, CK_OBJECT_HANDLE_PTR d), (s, o, b, c, d))
W(C_DestroyObject, (S, O), (s, o))
W(C_GetObjectSize, (S, O, ULP b), (s, o, b))
W(C_GetAttributeValue, (S, O, AP b, UL c), (s, o, b, c))
W(C_SetAttributeValue, (S, O, AP b, UL c), (s, o, b, c))
W(C_FindObjectsInit, (S, AP b, UL c), (s, b, c))
W(C_FindObjects, (S, CK_OBJECT_HANDLE_PTR b, UL c, ULP d), (s, b, c, d))
W(C_FindObjectsFinal, (S), (s))
W(C_EncryptInit, (S, M, O), (s, m, o))
WE(C_Encrypt, (S, BP b, UL c, BP d, ULP e), (s, b, c, d, e))
W(C_EncryptUpdate, (S, BP b, UL c, BP d, ULP e), (s, b, c, d, e))
WE(C_EncryptFinal, (S, BP b, ULP c), (s, b, c))
W(C_DecryptInit, (S, M, O), (s, m, o))
WE(C_Decrypt, (S, BP b, UL c, BP d, ULP e), (s, b, c, d, e))
W(C_DecryptUpdate, (S, BP b, UL c, BP d, ULP e), (s, b, c, d, e))
WE(C_DecryptFinal, (S, BP b, ULP c), (s, b, c))
W(C_DigestInit, (S, M), (s, m))
WE(C_Digest, (S, BP b, UL c, BP d, ULP e), (s, b, c, d, e))
W(C_DigestUpdate, (S, BP b, UL c), (s, b, c))
W(C_DigestKey, (S, O), (s, o))
WE(C_DigestFinal, (S, BP b, ULP c), (s, b, c))
W(C_SignInit, (S, M, O), (s, m, o))
WE(C_Sign, (S, BP b, UL c, BP d, ULP e), (s, b, c, d, e))
W(C_SignUpdate, (S, BP b, UL c), (s, b, c))
WE(C_SignFinal, (S, BP b, ULP c), (s, b, c))
W(C_SignRecoverInit, (S, M, O), (s, m, o))
WE(C_SignRecover, (S, BP b, UL c, BP d, ULP e), (s, b, c, d, e))
W(C_VerifyInit, (S, M, O), (s, m, o))
WE(C_Verify, (S, BP b, UL c, BP d, UL e), (s, b, c, d, e))
W(C_VerifyUpdate, (S, BP b, UL c), (s, b, c))
WE(C_VerifyFinal, (S, BP b, UL c), (s, b, c))
W(C_VerifyRecoverInit, (S, M, O), (s, m, o))
WE(C_VerifyRecover, (S, BP b, UL c, BP d, ULP e), (s, b, c, d, e))
W(C_DigestEncryptUpdate, (S, BP b, UL c, BP d, ULP e), (s, b, c, d, e))
W(C_DecryptDigestUpdate, (S, BP b, UL c, BP d, ULP e), (s, b, c, d, e))
W(C_SignEncryptUpdate, (S, BP b, UL c, BP d, ULP e), (s, b, c, d, e))
W(C_DecryptVerifyUpdate, (S, BP b, UL c, BP d, ULP e), (s, b, c, d, e))
W(C_GenerateKey, (S, M, AP b, UL c, CK_OBJECT_HANDLE_PTR d), (s, m, b, c, d))
W(C_GenerateKeyPair,
  (S, M, AP b, UL c, AP d, UL e, CK_OBJECT_HANDLE_PTR f,
   CK_OBJECT_HANDLE_PTR g),
  (s, m, b, c, d, e, f, g))
W(C_WrapKey, (S, M, O, CK_OBJECT_HANDLE b, BP c, ULP d), (s, m, o, b, c, d))
W(C_UnwrapKey,
  (S, M, O, BP b, UL c, AP d, UL e, CK_OBJECT_HANDLE_PTR f),
  (s, m, o, b, c, d, e, f))
W(C_DeriveKey, (S, M, O, AP b, UL c, CK_OBJECT_HANDLE_PTR d),
  (s, m, o, b, c, d))
W(C_SeedRandom, (S, BP b, UL c), (s, b, c))
W(C_GenerateRandom, (S, BP b, UL c), (s, b, c))
W(C_GetFunctionStatus, (S), (s))
W(C_CancelFunction, (S), (s))
W(C_WaitForSlotEvent, (CK_FLAGS a, CK_SLOT_ID_PTR b, CK_VOID_PTR c),
  (a, b, c))

static int
load_real(void)
{
	const char *path = getenv("P11FAULT_MODULE");
	CK_C_GetFunctionList gfl;

	if (real != NULL)
		return 0;
	if (path == NULL || *path == '\0')
		path = DEFAULT_MODULE;
	if ((real_dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "p11fault: %s\n", dlerror());
		return -1;
	}
	if ((gfl = (CK_C_GetFunctionList)dlsym(real_dl, "C_GetFunctionList")) ==
		NULL ||
	    gfl(&real) != CKR_OK || real == NULL) {
		fprintf(stderr, "p11fault: %s has no function list\n", path);
		real = NULL;
		return -1;
	}
	/* Anything not wrapped below still reaches the real module. */
	ours = *real;
#define SETW(name) ours.name = w_##name
	SETW(C_Initialize);
	SETW(C_Finalize);
	SETW(C_GetInfo);
	SETW(C_GetSlotList);
	SETW(C_GetSlotInfo);
	SETW(C_GetTokenInfo);
	SETW(C_GetMechanismList);
	SETW(C_GetMechanismInfo);
	SETW(C_InitToken);
	SETW(C_InitPIN);
	SETW(C_SetPIN);
	SETW(C_OpenSession);
	SETW(C_CloseSession);
	SETW(C_CloseAllSessions);
	SETW(C_GetSessionInfo);
	SETW(C_GetOperationState);
	SETW(C_SetOperationState);
	SETW(C_Login);
	SETW(C_Logout);
	SETW(C_CreateObject);
	SETW(C_CopyObject);
	SETW(C_DestroyObject);
	SETW(C_GetObjectSize);
	SETW(C_GetAttributeValue);
	SETW(C_SetAttributeValue);
	SETW(C_FindObjectsInit);
	SETW(C_FindObjects);
	SETW(C_FindObjectsFinal);
	SETW(C_EncryptInit);
	SETW(C_Encrypt);
	SETW(C_EncryptUpdate);
	SETW(C_EncryptFinal);
	SETW(C_DecryptInit);
	SETW(C_Decrypt);
	SETW(C_DecryptUpdate);
	SETW(C_DecryptFinal);
	SETW(C_DigestInit);
	SETW(C_Digest);
	SETW(C_DigestUpdate);
	SETW(C_DigestKey);
	SETW(C_DigestFinal);
	SETW(C_SignInit);
	SETW(C_Sign);
	SETW(C_SignUpdate);
	SETW(C_SignFinal);
	SETW(C_SignRecoverInit);
	SETW(C_SignRecover);
	SETW(C_VerifyInit);
	SETW(C_Verify);
	SETW(C_VerifyUpdate);
	SETW(C_VerifyFinal);
	SETW(C_VerifyRecoverInit);
	SETW(C_VerifyRecover);
	SETW(C_DigestEncryptUpdate);
	SETW(C_DecryptDigestUpdate);
	SETW(C_SignEncryptUpdate);
	SETW(C_DecryptVerifyUpdate);
	SETW(C_GenerateKey);
	SETW(C_GenerateKeyPair);
	SETW(C_WrapKey);
	SETW(C_UnwrapKey);
	SETW(C_DeriveKey);
	SETW(C_SeedRandom);
	SETW(C_GenerateRandom);
	SETW(C_GetFunctionStatus);
	SETW(C_CancelFunction);
	SETW(C_WaitForSlotEvent);
#undef SETW
	ours.C_GetFunctionList = C_GetFunctionList;
	return 0;
}

CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	CK_RV rv = CKR_OK;

	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&lock);
	if (load_real() != 0)
		rv = CKR_GENERAL_ERROR;
	pthread_mutex_unlock(&lock);
	if (rv == CKR_OK)
		*list = &ours;
	return rv;
}
