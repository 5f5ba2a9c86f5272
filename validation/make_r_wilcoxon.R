# make_r_wilcoxon.R -- R reference values for the paired Wilcoxon signed-rank test and for
# sample quantiles (types 1-9), for xerotrial's nonparametric helpers.
#
# How to run (from the repository root):
#     Rscript validation/make_r_wilcoxon.R
#
# Needs R (r-base-core) and r-cran-jsonlite. Writes tests/reference/r_wilcoxon.json with
#   "_meta":     R version, notes
#   "wilcoxon":  list of wilcox.test(x, y, paired = TRUE, ...) cases
#   "quantiles": list of quantile(x, c(.25, .5, .75), type = t) for t = 1..9, plus median(x)
#
# SAS notes: PROC UNIVARIATE's signed-rank statistic is S = V - n(n+1)/4 (n = non-zero
# differences), given here as S_sas; SAS uses an exact p for n <= 20 and a t approximation above,
# which is NOT what R does -- compare p-values with R only.  PROC UNIVARIATE's default
# percentile definition PCTLDEF=5 equals R's type 2; R's default is type 7.

suppressPackageStartupMessages(library(jsonlite))
options(digits = 15)

out_file <- file.path("tests", "reference", "r_wilcoxon.json")
dir.create(dirname(out_file), recursive = TRUE, showWarnings = FALSE)

set.seed(20261125)
# All x and y are multiples of 1/32 (dyadic), so x - y is exact in binary floating point and
# ties/zeros are real ties/zeros whatever language recomputes the differences.
dy <- function(v) round(v * 32) / 32
# n = 10, no ties, no zero differences (distinct |d|)
x10 <- dy(rnorm(10, 10, 2))
y10 <- x10 - c(9, -2, 19, 5, 16, -7, 24, 1, 12, -14) / 8
# n = 12 with tied |d| (several groups), no zeros
x_t <- dy(rnorm(12, 6, 1))
y_t <- x_t - c(0.5, 1, 1, -0.5, 1, 1.5, 1.5, -0.5, 1, 0.5, -1, 0.5)
# n = 11 with two zero differences and tied |d|
x_z <- dy(rnorm(11, 12, 1.5))
y_z <- x_z - c(0, 1.5, 0, 1.25, 2, -0.75, 1, 1.25, 0.5, 1.5, -0.5)
# n = 60, distinct |d|, no zeros: normal approximation by default (n >= 50)
x60 <- dy(rnorm(60, 20, 3))
d60 <- sample(1:500, 60) / 64 * ifelse(runif(60) < 0.65, 1, -1)
y60 <- x60 - d60
stopifnot(length(unique(abs(x10 - y10))) == 10, length(unique(abs(x60 - y60))) == 60)
# small n = 6 exact, one-sided
x6 <- c(1.83, 0.50, 1.62, 2.48, 1.68, 1.88)
y6 <- c(0.878, 0.647, 0.598, 2.05, 1.06, 1.29)

wcase <- function(label, x, y, exact = NULL, correct = TRUE, alternative = "two.sided") {
  warns <- character(0)
  r <- withCallingHandlers(
    wilcox.test(x, y, paired = TRUE, exact = exact, correct = correct,
                alternative = alternative),
    warning = function(w) { warns <<- c(warns, conditionMessage(w))
                            invokeRestart("muffleWarning") })
  d <- x - y
  n <- sum(d != 0)
  V <- unname(r$statistic)
  # which computation R used (mirrors stats:::wilcox.test.default)
  used_exact <- if (is.null(exact)) (n < 50) else exact
  zeros <- any(d == 0); ties <- length(unique(abs(d[d != 0]))) != n
  used_exact <- used_exact && !zeros && !ties
  list(label = label, x = x, y = y, exact = exact, correct = correct,
       alternative = alternative, n_nonzero = n, n_zero = sum(d == 0),
       has_ties = ties, computation = if (used_exact) "exact" else "normal approximation",
       statistic_V = V, S_sas = V - n * (n + 1) / 4, p_value = r$p.value,
       method = r$method, warnings = warns)
}

wil <- list(
  wcase("n10_no_ties_default", x10, y10),
  wcase("n10_no_ties_exact_true", x10, y10, exact = TRUE),
  wcase("n10_no_ties_normal_correct", x10, y10, exact = FALSE, correct = TRUE),
  wcase("n10_no_ties_normal_nocorrect", x10, y10, exact = FALSE, correct = FALSE),
  wcase("n12_ties_default", x_t, y_t),
  wcase("n12_ties_nocorrect", x_t, y_t, correct = FALSE),
  wcase("n11_zeros_default", x_z, y_z),
  wcase("n11_zeros_nocorrect", x_z, y_z, correct = FALSE),
  wcase("n60_default", x60, y60),
  wcase("n60_nocorrect", x60, y60, correct = FALSE),
  wcase("n60_exact_true", x60, y60, exact = TRUE),
  wcase("n60_exact_true_greater", x60, y60, exact = TRUE, alternative = "greater"),
  wcase("n6_exact_greater", x6, y6, alternative = "greater"),
  wcase("n6_exact_less", x6, y6, alternative = "less"),
  wcase("n6_normal_greater_correct", x6, y6, exact = FALSE, alternative = "greater")
)

qvecs <- list(
  n5 = c(3.1, 1.4, 5.9, 2.6, 4.2),
  n8 = c(7, 2, 9, 4, 4, 11, 6, 3),
  n10 = c(12.5, 3.2, 7.7, 9.1, 3.2, 15.0, 6.4, 8.8, 10.3, 5.5),
  n11_ties = c(2, 5, 5, 5, 7, 8, 8, 10, 12, 12, 15)
)
probs <- c(0.25, 0.5, 0.75)
qs <- lapply(names(qvecs), function(nm) {
  x <- qvecs[[nm]]
  q <- lapply(1:9, function(t) unname(quantile(x, probs, type = t)))
  names(q) <- paste0("type_", 1:9)
  c(list(label = nm, x = x, n = length(x), probs = probs, median = median(x)), q)
})

out <- list(
  `_meta` = list(
    generated_by = "validation/make_r_wilcoxon.R",
    R = R.version.string,
    jsonlite = as.character(packageVersion("jsonlite")),
    notes = paste(
      "wilcox.test(x, y, paired = TRUE, exact, correct, alternative). exact = null means R's",
      "default (exact if n < 50 and no ties/zeros). With ties or zero differences R cannot use",
      "the exact distribution: it drops zeros, uses mid-ranks, the tie-corrected variance and",
      "the normal approximation (with continuity correction when correct = true), and warns.",
      "statistic_V = sum of positive ranks; S_sas = V - n(n+1)/4 is PROC UNIVARIATE's S.",
      "quantiles: type_7 is R's default; type_2 equals SAS PROC UNIVARIATE PCTLDEF=5 (default).",
      "Per Hyndman & Fan (1996) the other SAS definitions are PCTLDEF=1 ~ type 4,",
      "PCTLDEF=2 ~ type 3, PCTLDEF=3 ~ type 1, PCTLDEF=4 ~ type 6 (not verified against SAS).")
  ),
  wilcoxon = wil,
  quantiles = qs
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null",
                  na = "null"), out_file)
cat("wrote", out_file, "\n")
