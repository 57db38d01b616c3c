/* Byte-level BPE tokenizer in the GPT-2/RoBERTa format (vocab.json + merges.txt):
 * loading, saving, encoding model inputs, decoding, and training new vocabularies.
 * doc/tokenizer.md describes the formats and every choice made here.
 *
 * A loaded tokenizer is immutable: any number of threads may encode with it at once.
 * The per-word cache is a separate object, one per thread (or none: pass NULL). */
#ifndef UNIMO2_TOKENIZER_H
#define UNIMO2_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

/* Vocabulary sizes the trainer accepts: 4 specials + 256 bytes + [MASK] at least. */
#define U2_TOK_MIN_VOCAB 261
#define U2_TOK_MAX_VOCAB (1 << 20)

/* Special tokens, read from vocab.json under either spelling:
 *   [CLS] <s>   [PAD] <pad>   [SEP] </s>   [UNK] <unk>   [MASK] <mask>
 * RoBERTa and our trained vocabularies have them at 0, 1, 2, 3 and vocab_size-1. */
typedef enum {
    U2_TOK_CLS,
    U2_TOK_PAD,
    U2_TOK_SEP,
    U2_TOK_UNK,
    U2_TOK_MASK,
    U2_TOK_NSPECIAL
} u2_tok_special;

typedef struct u2_tokenizer u2_tokenizer;
typedef struct u2_tok_cache u2_tok_cache;

/* ---------------------------------------------------------------- files */
/* Either path may be NULL for the default name in the current directory. Errors
 * (u2_fail) name the file: missing, corrupt JSON, duplicate ids, merges naming
 * unknown tokens, a missing special token, ... */
u2_tokenizer *u2_tok_load(const char *vocab_json, const char *merges_txt);
/* DIR/vocab.json and DIR/merges.txt. */
u2_tokenizer *u2_tok_load_dir(const char *dir);
/* Writes DIR/vocab.json and DIR/merges.txt (RoBERTa spellings of the specials),
 * each atomically (temp file in DIR, fsync, rename). Creates DIR if missing. */
int u2_tok_save(const u2_tokenizer *t, const char *dir);
/* Creates DIR if missing and checks that files can be written there, so that a
 * long training run fails before it starts rather than at the end. */
int u2_tok_prepare_dir(const char *dir);
void u2_tok_free(u2_tokenizer *t);

int32_t u2_tok_vocab_size(const u2_tokenizer *t);
int32_t u2_tok_num_merges(const u2_tokenizer *t);
int32_t u2_tok_special_id(const u2_tokenizer *t, u2_tok_special s);
/* 1 if id is one of the five special tokens. */
int u2_tok_is_special(const u2_tokenizer *t, int32_t id);
/* XXH3-64 of the canonical content (tokens by id, specials, merges by rank);
 * the same for any JSON formatting or special-token spelling. */
uint64_t u2_tok_fingerprint(const u2_tokenizer *t);
/* The raw bytes a token stands for (NULL for specials and ids out of range). */
const uint8_t *u2_tok_token_bytes(const u2_tokenizer *t, int32_t id, size_t *len);
/* The id of a vocab.json key ("Ġhello", "<s>", "[MASK]"), -1 if none. */
int32_t u2_tok_token_id(const u2_tokenizer *t, const char *name);

/* ---------------------------------------------------------------- encoding */
/* Per-thread word cache (a few MB at most); it adapts itself to whichever tokenizer
 * it is used with. Never share one between threads running at the same time. */
u2_tok_cache *u2_tok_cache_new(void);
void u2_tok_cache_free(u2_tok_cache *c);

/* A growable token sequence. word_start[i] is 1 where token i begins a word
 * (whole-word masking): specials, the first token of a text, the first token of a
 * pre-token that begins with or follows whitespace. Punctuation and "'s" glued to a
 * word continue that word. Zero-initialise, then free with u2_tok_buf_free. */
typedef struct {
    int32_t *ids;
    uint8_t *word_start;
    size_t n, cap;
} u2_tok_buf;
void u2_tok_buf_free(u2_tok_buf *b);

/* BPE of raw text (no special tokens), appended to out. `what` names the input in
 * errors (e.g. "captions.jsonl:12"; NULL: "text"). Invalid UTF-8 is an error.
 * c may be NULL. Returns 0, or -1 (out unchanged). */
int u2_tok_encode_text(const u2_tokenizer *t, u2_tok_cache *c, const char *what,
                       const char *text, size_t len, u2_tok_buf *out);

/* Model input of fixed length: "[CLS] a [SEP]", or with b != NULL
 * "[CLS] a [SEP] b [SEP]", written to ids[0..max_len). If longer than max_len the
 * texts are cut (pairs: longest first, ties cut b) and the final [SEP] kept;
 * *truncated (may be NULL) says so, and the caller warns naming the input. With pad,
 * the rest is filled with [PAD]. mask (attention: 1 real, 0 padding) and word_start
 * may be NULL. Returns the number of real tokens, or -1 on error. */
int32_t u2_tok_encode(const u2_tokenizer *t, u2_tok_cache *c, const char *what,
                      const char *a, const char *b, int32_t max_len, int pad,
                      int32_t *ids, uint8_t *mask, uint8_t *word_start, int *truncated);
/* The same without a length limit, appended to out. */
int u2_tok_encode_seq(const u2_tokenizer *t, u2_tok_cache *c, const char *what,
                      const char *a, const char *b, u2_tok_buf *out);

/* ids -> UTF-8 text, special tokens skipped; byte sequences that are not valid
 * UTF-8 (only possible for hand-made id lists) become U+FFFD. Returns a
 * NUL-terminated string to free(), its length in *len (may be NULL), or NULL with
 * an error for an id outside the vocabulary. */
char *u2_tok_decode(const u2_tokenizer *t, const int32_t *ids, size_t n, size_t *len);

/* ---------------------------------------------------------------- training */
typedef struct {
    int32_t vocab_size;    /* U2_TOK_MIN_VOCAB .. U2_TOK_MAX_VOCAB, [MASK] included */
    int64_t min_frequency; /* pairs seen fewer times are never merged (< 1 means 1) */
} u2_tok_train_opts;

typedef struct {
    int64_t lines, skipped_lines, words, unique_words;
    int32_t merges, vocab_size; /* vocab_size < asked when pairs ran out */
    double seconds;
} u2_tok_train_stats;

/* Learns merges from UTF-8 text files (one sentence per line). Lines that are not
 * valid UTF-8 are skipped with a warning on stderr naming file and line. Ties
 * between equally frequent pairs go to the lexicographically smallest (left bytes,
 * right bytes). Deterministic. stats may be NULL. Shows a progress line. */
u2_tokenizer *u2_tok_train(const char *const *files, int nfiles, const u2_tok_train_opts *o,
                           u2_tok_train_stats *stats);

#endif
