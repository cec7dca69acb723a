//! The one text analyzer of the search index: Chinese and English in the same field.
//!
//! jieba (search mode: long words also yield the dictionary words inside them, so 网上政务服务
//! is found by 政务服务) → drop tokens with no letter or digit (whitespace, punctuation) →
//! lower-case → English Snowball stemmer (which leaves CJK tokens as they are). Owns only
//! tokenisation; registered on every index under [`ANALYZER`]. Specified in
//! `formats/search.md` ("Analyzers").

use tantivy::tokenizer::{
    Language, LowerCaser, Stemmer, TextAnalyzer, Token, TokenStream, Tokenizer,
};
use tantivy_jieba::{JiebaTokenStream, JiebaTokenizer};

/// Name of the analyzer in the index's tokenizer registry (used by the schema).
pub const ANALYZER: &str = "strongroom_zh_en";

/// The analyzer: jieba, word tokens only, lower case, English stems.
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(WordsOnly(JiebaTokenizer::new()))
        .filter(LowerCaser)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// jieba with whitespace and punctuation tokens dropped.
#[derive(Clone)]
struct WordsOnly(JiebaTokenizer);

/// The token stream of [`WordsOnly`].
struct WordsOnlyStream<'a>(JiebaTokenStream<'a>);

impl Tokenizer for WordsOnly {
    type TokenStream<'a> = WordsOnlyStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        WordsOnlyStream(self.0.token_stream(text))
    }
}

impl TokenStream for WordsOnlyStream<'_> {
    fn advance(&mut self) -> bool {
        while self.0.advance() {
            if self.0.token().text.chars().any(char::is_alphanumeric) {
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        self.0.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.0.token_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<String> {
        let mut a = analyzer();
        let mut s = a.token_stream(text);
        let mut out = Vec::new();
        while s.advance() {
            out.push(s.token().text.clone());
        }
        out
    }

    #[test]
    fn chinese_words_inside_longer_words_are_tokens() {
        let t = tokens("关于网上政务服务平台建设的通知");
        assert!(t.contains(&"政务".to_string()), "{t:?}");
        assert!(t.contains(&"服务".to_string()), "{t:?}");
    }

    #[test]
    fn english_is_lowercased_and_stemmed_whitespace_dropped() {
        let t = tokens("Meeting Records， of  the platforms");
        assert!(t.contains(&"meet".to_string()), "{t:?}");
        assert!(t.contains(&"platform".to_string()), "{t:?}");
        assert!(t.iter().all(|w| !w.trim().is_empty() && w != "，"), "{t:?}");
    }
}
