/* Shared by tokenizer.c, tokenizer_text.c and tokenizer_train.c; not public. */
#ifndef UNIMO2_TOKENIZER_INTERNAL_H
#define UNIMO2_TOKENIZER_INTERNAL_H

#include "tokenizer.h"

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- text (tokenizer_text.c) */
/* Code-point classes of the GPT-2 pattern: other, letter (\p{L}), number (\p{N}),
 * whitespace (\s = Unicode White_Space). */
enum { U2_CC_O, U2_CC_L, U2_CC_N, U2_CC_S };
int u2_cp_class(uint32_t cp);

/* Offset of the first byte that is not valid UTF-8 (RFC 3629: no overlongs,
 * surrogates or code points above U+10FFFF), or n when all of s is valid. */
size_t u2_utf8_check(const uint8_t *s, size_t n);
/* Length of the valid UTF-8 sequence at s[i] (> 0), or minus the length of its
 * longest valid prefix (the "maximal subpart", at least 1) when it is invalid. */
int u2_utf8_seq(const uint8_t *s, size_t n, size_t i);

/* Kinds of pre-token: a word, number, punctuation run or contraction; the same
 * with one leading space; whitespace only. */
enum { U2_PT_WORD, U2_PT_SPACE_WORD, U2_PT_SPACE };
/* End of the pre-token that starts at s[i] (i < n, s valid UTF-8), GPT-2's
 * 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
size_t u2_pretok_next(const uint8_t *s, size_t n, size_t i, int *kind);

/* GPT-2's byte <-> printable code point alphabet (space is U+0120 'Ġ'). */
uint32_t u2_byte_to_cp(uint8_t b);
/* The byte for an alphabet code point, -1 if cp is not in the alphabet. */
int u2_cp_to_byte(uint32_t cp);
/* Alphabet string (UTF-8, NUL-terminated) of n raw bytes into out (room for 2n+1). */
size_t u2_bytes_to_alphabet(const uint8_t *b, size_t n, char *out);
/* Raw bytes of an alphabet string into out (room for strlen(s)); -1 if a code point
 * is outside the alphabet or s is not valid UTF-8. */
long u2_alphabet_to_bytes(const char *s, uint8_t *out);

/* ---------------------------------------------------------------- building (tokenizer.c) */
/* Spellings of the specials: ours [CLS].. and RoBERTa's <s>.. (written on save). */
extern const char *const u2_tok_special_ours[U2_TOK_NSPECIAL];
extern const char *const u2_tok_special_roberta[U2_TOK_NSPECIAL];

/* Building a tokenizer (loader and trainer): first the vocabulary, then the merges in
 * rank order, then finish. Token id i is bytes[off[i] .. off[i]+len[i]); specials
 * (special[k] = their ids) keep their spelling there. u2_tok_new takes ownership of
 * the three arrays; errors name `what`. */
u2_tokenizer *u2_tok_new(int32_t n_vocab, const int32_t special[U2_TOK_NSPECIAL],
                         uint8_t *bytes, uint32_t *off, uint32_t *len, const char *what);
/* The id of a token's bytes, -1 if none (specials included under their spelling). */
int32_t u2_tok_lookup(const u2_tokenizer *t, const uint8_t *b, size_t n);
/* Appends merge (left, right) with the next rank. Returns the id of the merged token,
 * -1 when its bytes are not in the vocabulary, -2 when the pair is already a merge. */
int32_t u2_tok_add_merge(u2_tokenizer *t, int32_t left, int32_t right);
/* Computes the fingerprint once every merge is in. */
void u2_tok_finish(u2_tokenizer *t);

#endif
