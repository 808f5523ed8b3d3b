// BcPeer.java - BouncyCastle (bcprov/bcpkix/bcmail 1.72, javax.mail) as an
// independent S/MIME peer of the interop matrix. One JVM runs a whole batch,
// because the JVM start-up costs more than every S/MIME operation together.
//
// Usage: java -cp CLASSPATH BcPeer JOBFILE
// JOBFILE: one job per line, fields separated by blanks, "-" = not given:
//   ID produce STEPS SIGNKEY SIGNCERT CHAIN RECIPCERT IN OUT
//      STEPS: comma-separated, applied left to right:
//        sd[:DIGEST[:pss]] (multipart/signed), so[:DIGEST[:pss]] (opaque
//        signed-data); DIGEST sha256 (default), sha384 or sha512.
//        e:CIPHER[:oaep] (aes128-cbc aes192-cbc aes256-cbc: EnvelopedData
//        through bcmail; aes128-gcm aes256-gcm: AuthEnvelopedData through
//        bcpkix, MIME by hand, since bcmail 1.72 has no authEnveloped
//        support). RSA recipients get PKCS#1 v1.5 key transport (or
//        RSAES-OAEP with SHA-256), EC recipients ECDH
//        (dhSinglePass-stdDH-sha256kdf) key agreement.
//   ID open CA KEY CERT IN OUT
//      Peel every S/MIME layer: signatures must verify and chain to CA
//      (PKIX, no revocation; the signer needs emailProtection or no EKU and
//      digitalSignature or nonRepudiation); envelopes are opened with
//      KEY/CERT. OUT receives the innermost entity.
// Output, one line per job: "ID ok LAYERS" (S signed, E enveloped,
// A authEnveloped, outermost first; "-" for none) or "ID fail REASON".
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.security.*;
import java.security.cert.*;
import java.security.interfaces.ECPublicKey;
import java.security.spec.MGF1ParameterSpec;
import java.util.*;

import javax.crypto.spec.OAEPParameterSpec;
import javax.crypto.spec.PSource;

import javax.mail.Session;
import javax.mail.internet.ContentType;
import javax.mail.internet.MimeBodyPart;
import javax.mail.internet.MimeMessage;
import javax.mail.internet.MimeMultipart;

import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.cms.ContentInfo;
import org.bouncycastle.asn1.cms.CMSObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaCertStore;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cms.*;
import org.bouncycastle.cms.jcajce.*;
import org.bouncycastle.operator.jcajce.JcaAlgorithmParametersConverter;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.mail.smime.SMIMEEnveloped;
import org.bouncycastle.mail.smime.SMIMEEnvelopedGenerator;
import org.bouncycastle.mail.smime.SMIMESigned;
import org.bouncycastle.mail.smime.SMIMESignedGenerator;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.operator.OutputAEADEncryptor;
import org.bouncycastle.operator.OutputEncryptor;
import org.bouncycastle.util.Store;

@SuppressWarnings("unchecked")
public final class BcPeer {
	private static final String BC = "BC";
	private static final String EMAIL_PROTECTION = "1.3.6.1.5.5.7.3.4";
	private static final Session SESSION =
		Session.getInstance(new Properties());
	private static final JcaX509CertificateConverter CONV =
		new JcaX509CertificateConverter().setProvider(BC);

	private BcPeer() {
	}

	/* ---------------------------------------------------------------- files */

	private static List<X509Certificate> certs(String file) throws Exception {
		List<X509Certificate> out = new ArrayList<>();
		if (file.equals("-"))
			return out;
		CertificateFactory cf = CertificateFactory.getInstance("X.509");
		try (InputStream in = new BufferedInputStream(
				new FileInputStream(file))) {
			for (java.security.cert.Certificate c :
					cf.generateCertificates(in))
				out.add((X509Certificate) c);
		}
		if (out.isEmpty())
			throw new IOException(file + ": no certificate");
		return out;
	}

	private static X509Certificate cert(String file) throws Exception {
		return certs(file).get(0);
	}

	private static PrivateKey key(String file) throws Exception {
		try (PEMParser p = new PEMParser(new FileReader(file))) {
			Object o = p.readObject();
			JcaPEMKeyConverter kc = new JcaPEMKeyConverter().setProvider(BC);
			if (o instanceof PrivateKeyInfo)
				return kc.getPrivateKey((PrivateKeyInfo) o);
			if (o instanceof PEMKeyPair)
				return kc.getKeyPair((PEMKeyPair) o).getPrivate();
			throw new IOException(file + ": not an unencrypted private key");
		}
	}

	private static byte[] bytes(javax.mail.Part p) throws Exception {
		ByteArrayOutputStream b = new ByteArrayOutputStream();
		p.writeTo(b);
		return b.toByteArray();
	}

	/* ------------------------------------------------------------ producing */

	/** A generated part as a top-level entity (MIME-Version, headers). */
	private static byte[] entity(Object content, String type,
			MimeBodyPart headersFrom) throws Exception {
		MimeMessage m = new MimeMessage(SESSION);
		m.setContent(content, type);
		if (headersFrom != null) {
			for (Enumeration<?> e = headersFrom.getAllHeaders();
					e.hasMoreElements();) {
				javax.mail.Header h = (javax.mail.Header) e.nextElement();
				m.setHeader(h.getName(), h.getValue());
			}
		}
		m.saveChanges();
		m.removeHeader("Message-ID");
		return bytes(m);
	}

	private static byte[] sign(byte[] in, boolean opaque, String digest,
			boolean pss, String keyFile, String certFile, String chainFile)
			throws Exception {
		X509Certificate signer = cert(certFile);
		List<X509Certificate> all = new ArrayList<>();
		all.add(signer);
		all.addAll(certs(chainFile));
		String d = digest.toUpperCase(Locale.ROOT);
		String alg = signer.getPublicKey() instanceof ECPublicKey
			? d + "withECDSA" : pss ? d + "withRSAandMGF1" : d + "withRSA";
		SMIMESignedGenerator g = new SMIMESignedGenerator();
		g.addSignerInfoGenerator(new JcaSimpleSignerInfoGeneratorBuilder()
			.setProvider(BC).build(alg, key(keyFile), signer));
		g.addCertificates(new JcaCertStore(all));
		MimeBodyPart body = new MimeBodyPart(new ByteArrayInputStream(in));
		if (opaque) {
			MimeBodyPart p = g.generateEncapsulated(body);
			return entity(p.getContent(), p.getContentType(), p);
		}
		MimeMultipart mm = g.generate(body);
		return entity(mm, mm.getContentType(), null);
	}

	private static ASN1ObjectIdentifier cipher(String name) {
		switch (name) {
		case "aes128-cbc": return CMSAlgorithm.AES128_CBC;
		case "aes192-cbc": return CMSAlgorithm.AES192_CBC;
		case "aes256-cbc": return CMSAlgorithm.AES256_CBC;
		case "aes128-gcm": return CMSAlgorithm.AES128_GCM;
		case "aes256-gcm": return CMSAlgorithm.AES256_GCM;
		default: throw new IllegalArgumentException("unknown cipher " + name);
		}
	}

	private static RecipientInfoGenerator recipient(X509Certificate to,
			boolean strong, boolean oaep) throws Exception {
		if (!(to.getPublicKey() instanceof ECPublicKey) && oaep)
			return new JceKeyTransRecipientInfoGenerator(to,
				new JcaAlgorithmParametersConverter().getAlgorithmIdentifier(
					PKCSObjectIdentifiers.id_RSAES_OAEP,
					new OAEPParameterSpec("SHA-256", "MGF1",
						MGF1ParameterSpec.SHA256,
						PSource.PSpecified.DEFAULT))).setProvider(BC);
		if (!(to.getPublicKey() instanceof ECPublicKey))
			return new JceKeyTransRecipientInfoGenerator(to).setProvider(BC);
		KeyPairGenerator kpg = KeyPairGenerator.getInstance("EC", BC);
		kpg.initialize(((ECPublicKey) to.getPublicKey()).getParams());
		KeyPair eph = kpg.generateKeyPair();
		JceKeyAgreeRecipientInfoGenerator g =
			new JceKeyAgreeRecipientInfoGenerator(
				CMSAlgorithm.ECDH_SHA256KDF, eph.getPrivate(),
				eph.getPublic(), strong ? CMSAlgorithm.AES256_WRAP
					: CMSAlgorithm.AES128_WRAP);
		g.addRecipient(to);
		g.setProvider(BC);
		return g;
	}

	private static byte[] encrypt(byte[] in, String cipherName,
			boolean oaep, String recipFile) throws Exception {
		X509Certificate to = cert(recipFile);
		ASN1ObjectIdentifier alg = cipher(cipherName);
		boolean strong = !cipherName.startsWith("aes128");
		if (cipherName.endsWith("-gcm")) {
			CMSAuthEnvelopedDataGenerator g =
				new CMSAuthEnvelopedDataGenerator();
			g.addRecipientInfoGenerator(recipient(to, strong, oaep));
			OutputAEADEncryptor enc = (OutputAEADEncryptor)
				new JceCMSContentEncryptorBuilder(alg).setProvider(BC)
					.build();
			CMSAuthEnvelopedData d = g.generate(
				new CMSProcessableByteArray(in), enc);
			String b64 = Base64.getMimeEncoder(76,
				new byte[] { '\r', '\n' }).encodeToString(d.getEncoded());
			String m = "MIME-Version: 1.0\r\n"
				+ "Content-Type: application/pkcs7-mime;"
				+ " smime-type=authEnveloped-data; name=smime.p7m\r\n"
				+ "Content-Transfer-Encoding: base64\r\n"
				+ "Content-Disposition: attachment; filename=smime.p7m\r\n"
				+ "\r\n" + b64 + "\r\n";
			return m.getBytes(StandardCharsets.US_ASCII);
		}
		SMIMEEnvelopedGenerator g = new SMIMEEnvelopedGenerator();
		g.addRecipientInfoGenerator(recipient(to, strong, oaep));
		OutputEncryptor enc = new JceCMSContentEncryptorBuilder(alg)
			.setProvider(BC).build();
		MimeBodyPart p = g.generate(
			new MimeBodyPart(new ByteArrayInputStream(in)), enc);
		return entity(p.getContent(), p.getContentType(), p);
	}

	private static String produce(String[] f) throws Exception {
		// ID produce STEPS SIGNKEY SIGNCERT CHAIN RECIPCERT IN OUT
		if (f.length != 9)
			throw new IllegalArgumentException("produce needs 7 arguments");
		byte[] cur = Files.readAllBytes(Paths.get(f[7]));
		for (String step : f[2].split(",")) {
			String[] s = step.split(":");
			String opt = s.length > 2 ? s[2] : "";
			if (s[0].equals("sd") || s[0].equals("so"))
				cur = sign(cur, s[0].equals("so"),
					s.length > 1 ? s[1] : "sha256", opt.equals("pss"),
					f[3], f[4], f[5]);
			else if (s[0].equals("e") && s.length > 1)
				cur = encrypt(cur, s[1], opt.equals("oaep"), f[6]);
			else
				throw new IllegalArgumentException("unknown step " + step);
		}
		Files.write(Paths.get(f[8]), cur);
		return "";
	}

	/* ------------------------------------------------------------ consuming */

	private static String smimeType(MimeMessage m) throws Exception {
		if (m.isMimeType("multipart/signed"))
			return "signed-detached";
		if (!m.isMimeType("application/pkcs7-mime")
				&& !m.isMimeType("application/x-pkcs7-mime"))
			return null;
		String st = new ContentType(m.getContentType())
			.getParameter("smime-type");
		if (st != null) {
			switch (st.toLowerCase(Locale.ROOT)) {
			case "signed-data": return "signed-opaque";
			case "enveloped-data": return "enveloped";
			case "authenveloped-data": return "authenveloped";
			default: break;
			}
		}
		// No (or an unknown) smime-type: classify by the CMS content type.
		byte[] der = m.getInputStream().readAllBytes();
		ASN1ObjectIdentifier t = ContentInfo.getInstance(der).getContentType();
		if (t.equals(CMSObjectIdentifiers.signedData))
			return "signed-opaque";
		if (t.equals(CMSObjectIdentifiers.envelopedData))
			return "enveloped";
		if (t.equals(CMSObjectIdentifiers.authEnvelopedData))
			return "authenveloped";
		throw new CMSException("pkcs7-mime with CMS content type " + t);
	}

	private static void verify(SMIMESigned s, X509Certificate ca)
			throws Exception {
		Store<X509CertificateHolder> store = s.getCertificates();
		Collection<SignerInformation> signers = s.getSignerInfos().getSigners();
		if (signers.isEmpty())
			throw new CMSException("no SignerInfo");
		List<X509Certificate> all = new ArrayList<>();
		for (X509CertificateHolder h : store.getMatches(null))
			all.add(CONV.getCertificate(h));
		for (SignerInformation si : signers) {
			Collection<X509CertificateHolder> m = store.getMatches(si.getSID());
			if (m.isEmpty())
				throw new CMSException("signer certificate not in the message");
			X509Certificate sc = CONV.getCertificate(m.iterator().next());
			if (!si.verify(new JcaSimpleSignerInfoVerifierBuilder()
					.setProvider(BC).build(sc)))
				throw new CMSException("signature does not verify");
			boolean[] ku = sc.getKeyUsage();
			if (ku != null && !ku[0] && !ku[1])
				throw new CMSException("signer key usage allows no signing");
			List<String> eku = sc.getExtendedKeyUsage();
			if (eku != null && !eku.contains(EMAIL_PROTECTION))
				throw new CMSException("signer EKU lacks emailProtection");
			X509CertSelector sel = new X509CertSelector();
			sel.setCertificate(sc);
			PKIXBuilderParameters pp = new PKIXBuilderParameters(
				Collections.singleton(new TrustAnchor(ca, null)), sel);
			pp.setRevocationEnabled(false);
			pp.addCertStore(CertStore.getInstance("Collection",
				new CollectionCertStoreParameters(all), BC));
			try {
				CertPathBuilder.getInstance("PKIX", BC).build(pp);
			} catch (CertPathBuilderException e) {
				throw new CMSException("no path to the trusted CA: "
					+ e.getMessage());
			}
		}
	}

	private static byte[] decrypt(RecipientInformationStore ris, boolean aead,
			PrivateKey key, X509Certificate me) throws Exception {
		if (key == null)
			throw new CMSException("encrypted layer, but no key given");
		X509CertificateHolder mine = new X509CertificateHolder(me.getEncoded());
		for (RecipientInformation ri : ris.getRecipients()) {
			if (!ri.getRID().match(mine))
				continue;
			Recipient r;
			if (ri instanceof KeyTransRecipientInformation)
				r = aead ? new JceKeyTransAuthEnvelopedRecipient(key)
					.setProvider(BC)
					: new JceKeyTransEnvelopedRecipient(key).setProvider(BC);
			else if (ri instanceof KeyAgreeRecipientInformation)
				r = new JceKeyAgreeEnvelopedRecipient(key).setProvider(BC);
			else
				throw new CMSException("unsupported RecipientInfo "
					+ ri.getClass().getSimpleName());
			return ri.getContent(r);
		}
		throw new CMSException("no RecipientInfo for our certificate ("
			+ ris.size() + " recipients)");
	}

	private static String open(String[] f) throws Exception {
		// ID open CA KEY CERT IN OUT
		if (f.length != 7)
			throw new IllegalArgumentException("open needs 5 arguments");
		X509Certificate ca = cert(f[2]);
		PrivateKey key = f[3].equals("-") ? null : key(f[3]);
		X509Certificate me = f[4].equals("-") ? null : cert(f[4]);
		byte[] cur = Files.readAllBytes(Paths.get(f[5]));
		StringBuilder layers = new StringBuilder();
		for (int depth = 0; depth < 8; depth++) {
			MimeMessage m = new MimeMessage(SESSION,
				new ByteArrayInputStream(cur));
			String kind = smimeType(m);
			if (kind == null)
				break;
			switch (kind) {
			case "signed-detached": {
				SMIMESigned s = new SMIMESigned((MimeMultipart) m.getContent());
				verify(s, ca);
				cur = bytes(s.getContent());
				layers.append('S');
				break;
			}
			case "signed-opaque": {
				SMIMESigned s = new SMIMESigned(m);
				verify(s, ca);
				cur = bytes(s.getContent());
				layers.append('S');
				break;
			}
			case "enveloped":
				cur = decrypt(new SMIMEEnveloped(m).getRecipientInfos(), false,
					key, me);
				layers.append('E');
				break;
			default: {
				CMSAuthEnvelopedData d = new CMSAuthEnvelopedData(
					m.getInputStream().readAllBytes());
				cur = decrypt(d.getRecipientInfos(), true, key, me);
				layers.append('A');
				break;
			}
			}
		}
		Files.write(Paths.get(f[6]), cur);
		return layers.length() == 0 ? "-" : layers.toString();
	}

	/* ----------------------------------------------------------------- main */

	private static String reason(Throwable e) {
		StringBuilder b = new StringBuilder();
		for (Throwable t = e; t != null && b.length() < 300; t = t.getCause()) {
			if (b.length() > 0)
				b.append(" <- ");
			b.append(t.getClass().getSimpleName());
			if (t.getMessage() != null)
				b.append(": ").append(t.getMessage());
		}
		return b.toString().replaceAll("\\s+", " ");
	}

	public static void main(String[] args) throws IOException {
		Security.addProvider(new BouncyCastleProvider());
		if (args.length != 1) {
			System.err.println("usage: BcPeer JOBFILE");
			System.exit(2);
		}
		for (String line : Files.readAllLines(Paths.get(args[0]))) {
			String[] f = line.trim().split("\\s+");
			if (f.length < 2 || f[0].startsWith("#"))
				continue;
			String res;
			try {
				if (f[1].equals("produce"))
					res = "ok " + produce(f);
				else if (f[1].equals("open"))
					res = "ok " + open(f);
				else
					res = "fail unknown verb " + f[1];
			} catch (Exception | LinkageError | AssertionError e) {
				res = "fail " + reason(e);
			}
			System.out.println(f[0] + " " + res.trim());
			System.out.flush();
		}
	}
}
