/*
 * p11probe - a test tool that tries to get a private key's secret out of
 * a PKCS#11 token, as an attacker holding the PIN would: by reading
 * CKA_VALUE / CKA_PRIVATE_EXPONENT and by wrapping it with a session key.
 *
 * usage: p11probe MODULE TOKEN-LABEL PIN-FILE KEY-LABEL
 * Exit 0 when every attempt was refused (and prints what the token said),
 * 1 when any secret came out, 2 on setup errors.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

static int
fail(const char *what, CK_RV rv)
{
	fprintf(stderr, "p11probe: %s: 0x%lx\n", what, (unsigned long)rv);
	return 2;
}

int
main(int argc, char **argv)
{
	CK_FUNCTION_LIST_PTR f;
	CK_C_GetFunctionList gfl;
	CK_SLOT_ID slots[16];
	CK_ULONG ns = 16, i, n;
	CK_TOKEN_INFO ti;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key, wrapkey;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_BYTE buf[8192];
	CK_ULONG blen = sizeof(buf), vlen = 32;
	CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
	CK_MECHANISM wrap = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	char pin[256], lbl[33];
	void *dl;
	FILE *fp;
	size_t pl;
	CK_RV rv;
	int leaked = 0;

	if (argc != 5) {
		fprintf(stderr, "usage: p11probe MODULE TOKEN PINFILE LABEL\n");
		return 2;
	}
	if ((dl = dlopen(argv[1], RTLD_NOW)) == NULL)
		return fail(dlerror(), 0);
	*(void **)&gfl = dlsym(dl, "C_GetFunctionList");
	if (gfl == NULL || gfl(&f) != CKR_OK || f->C_Initialize(NULL) != CKR_OK)
		return fail("init", 0);
	if (f->C_GetSlotList(CK_TRUE, slots, &ns) != CKR_OK)
		return fail("slots", 0);
	for (i = 0; i < ns; i++) {
		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		memcpy(lbl, ti.label, 32);
		lbl[32] = '\0';
		for (pl = 32; pl > 0 && lbl[pl - 1] == ' '; pl--)
			lbl[pl - 1] = '\0';
		if (strcmp(lbl, argv[2]) == 0)
			break;
	}
	if (i == ns)
		return fail("token not found", 0);
	if ((fp = fopen(argv[3], "r")) == NULL || fgets(pin, sizeof(pin), fp) == NULL)
		return fail("pin file", 0);
	fclose(fp);
	pin[strcspn(pin, "\r\n")] = '\0';
	if ((rv = f->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION,
				   NULL, NULL, &s)) != CKR_OK)
		return fail("session", rv);
	if ((rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin))) != CKR_OK)
		return fail("login", rv);
	{
		CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
				    {CKA_LABEL, argv[4], strlen(argv[4])}};
		f->C_FindObjectsInit(s, t, 2);
		f->C_FindObjects(s, &key, 1, &n);
		f->C_FindObjectsFinal(s);
		if (n != 1)
			return fail("private key not found", 0);
	}
	{
		CK_ATTRIBUTE a[] = {{CKA_VALUE, buf, sizeof(buf)}};
		rv = f->C_GetAttributeValue(s, key, a, 1);
		printf("read CKA_VALUE: 0x%lx\n", (unsigned long)rv);
		if (rv == CKR_OK && a[0].ulValueLen != CK_UNAVAILABLE_INFORMATION)
			leaked = 1;
	}
	{
		CK_ATTRIBUTE a[] = {{CKA_PRIVATE_EXPONENT, buf, sizeof(buf)}};
		rv = f->C_GetAttributeValue(s, key, a, 1);
		printf("read CKA_PRIVATE_EXPONENT: 0x%lx\n", (unsigned long)rv);
		if (rv == CKR_OK && a[0].ulValueLen != CK_UNAVAILABLE_INFORMATION)
			leaked = 1;
	}
	{
		CK_ATTRIBUTE t[] = {{CKA_VALUE_LEN, &vlen, sizeof(vlen)},
				    {CKA_WRAP, &yes, 1},
				    {CKA_TOKEN, &no, 1}};
		if ((rv = f->C_GenerateKey(s, &gen, t, 3, &wrapkey)) != CKR_OK)
			return fail("AES key generation", rv);
		rv = f->C_WrapKey(s, &wrap, wrapkey, key, buf, &blen);
		printf("wrap with a session AES key: 0x%lx\n", (unsigned long)rv);
		if (rv == CKR_OK)
			leaked = 1;
	}
	f->C_CloseSession(s);
	f->C_Finalize(NULL);
	puts(leaked ? "LEAKED" : "refused");
	return leaked;
}
