/* cms_alg.c - the digest and content-encryption names (cms_alg.h). */
#include <string.h>

#include "cms_alg.h"

const EVP_MD *
cms_alg_digest(const char *name)
{
	if (strcmp(name, "sha256") == 0)
		return EVP_sha256();
	if (strcmp(name, "sha384") == 0)
		return EVP_sha384();
	if (strcmp(name, "sha512") == 0)
		return EVP_sha512();
	return NULL;
}

const EVP_CIPHER *
cms_alg_cipher(const char *name)
{
	static const struct {
		const char *name;
		const EVP_CIPHER *(*fn)(void);
	} t[] = {
	    {"aes128-cbc", EVP_aes_128_cbc}, {"aes192-cbc", EVP_aes_192_cbc},
	    {"aes256-cbc", EVP_aes_256_cbc}, {"aes128-gcm", EVP_aes_128_gcm},
	    {"aes256-gcm", EVP_aes_256_gcm},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(name, t[i].name) == 0)
			return t[i].fn();
	return NULL;
}
