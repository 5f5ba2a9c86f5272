num <- function(v) {
  s <- ifelse(is.na(v), "None", ifelse(is.infinite(v), ifelse(v > 0, "INF", "-INF"), sprintf("%.17g", v)))
  paste0("[", paste(s, collapse = ", "), "]")
}
f17 <- function(v) if (is.nan(v)) "NAN" else sprintf("%.17g", v)
set.seed(20240601)
hw_x <- c(1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30)
hw_y <- c(0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29)
cases <- list(
  list(id = "hw", x = hw_x, y = hw_y),
  list(id = "ties_zero", x = c(5, 7, 7, 9, 4, 6, 8, 3, 10), y = c(4, 5, 5, 6, 5, 2, 3, 3, 4)),
  list(id = "ties_only", x = c(2, 4, 4, 6, 1, 9, 3, 8), y = c(1, 2, 2, 1, 2, 3, 5, 1)),
  list(id = "with_na", x = c(3.1, NA, 2.2, 5.9, 4.4, 1.2, 7.7, 6.1, NA, 0.4, 2.8),
                    y = c(2.0, 1.0, NA, 3.3, 4.9, 0.1, 5.2, 6.0, NA, 1.9, 0.6)),
  list(id = "n1", x = c(2.5), y = c(1.0)),
  list(id = "n1_neg", x = c(1.0), y = c(2.5)),
  list(id = "n2", x = c(1, 5), y = c(2, 2)),
  list(id = "all_pos", x = c(11.2, 12.9, 13.1, 14.7, 15.3, 16.0, 17.8), y = c(10, 11, 12, 13, 14, 15, 16)),
  list(id = "rnorm20", x = round(rnorm(20, 1, 2), 3), y = round(rnorm(20, 0.3, 2), 3)),
  list(id = "rnorm49", x = rnorm(49, 0.2), y = rnorm(49)),
  list(id = "rnorm50", x = rnorm(50, 0.2), y = rnorm(50)),
  list(id = "rnorm80", x = rnorm(80, 0.3), y = rnorm(80)),
  list(id = "int_scores_60", x = sample(0:10, 60, TRUE), y = sample(0:10, 60, TRUE)),
  list(id = "int_scores_25", x = sample(0:6, 25, TRUE), y = sample(0:6, 25, TRUE)),
  list(id = "inf_diff", x = c(1.5, Inf, 2.25, 4.0, 0.5, 3.0), y = c(0.0, 1.0, 1.0, 1.0, 1.0, 1.0)),
  list(id = "all_zero", x = c(1, 2, 3), y = c(1, 2, 3))
)
cat("R_VERSION = ", deparse(R.version.string), "\n", sep = "")
cat("R_WILCOXON_CASES = [\n")
for (cs in cases) {
  for (alt in c("two.sided", "greater", "less")) for (ex in list(NULL, TRUE, FALSE)) for (cr in c(TRUE, FALSE)) {
    w <- character(0)
    r <- withCallingHandlers(
      wilcox.test(cs$x, cs$y, paired = TRUE, alternative = alt, exact = ex, correct = cr),
      warning = function(m) { w <<- c(w, conditionMessage(m)); invokeRestart("muffleWarning") })
    cat(sprintf("    (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s),\n",
      deparse(cs$id), num(cs$x), num(cs$y), deparse(alt),
      if (is.null(ex)) "None" else if (ex) "True" else "False",
      if (cr) "True" else "False",
      f17(unname(r$statistic)), f17(r$p.value), deparse(r$method),
      paste0("(", paste(sprintf('"%s", ', w), collapse = ""), ")")))
  }
}
cat("]\n")
