set.seed(7)
f17 <- function(v) sprintf("%.17g", v)
num <- function(v) paste0("[", paste(ifelse(is.na(v), "None", f17(v)), collapse = ", "), "]")
samples <- list(
  one = c(4.2),
  two = c(-1, 3),
  ints_ties = c(3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5),
  ten = c(0.8, 1.9, 2.4, 3.3, 4.1, 5.0, 6.6, 7.2, 8.9, 9.5),
  with_na = c(12.5, NA, 3.25, 8, NA, 1.5, 20, 7.75),
  rnorm13 = round(rnorm(13, 10, 3), 2),
  rnorm40 = rnorm(40)
)
probs <- c(0, 0.01, 0.1, 0.2, 0.25, 0.3, 1/3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 0.99, 1)
cat("R_QUANTILE_PROBS = ", num(probs), "\n", sep = "")
cat("R_QUANTILE_DATA = {\n")
for (nm in names(samples)) cat(sprintf("    %s: %s,\n", deparse(nm), num(samples[[nm]])))
cat("}\n")
cat("R_QUANTILES = {  # (sample, type) -> quantile(x, R_QUANTILE_PROBS, type, na.rm = TRUE)\n")
for (nm in names(samples)) for (t in 1:9)
  cat(sprintf("    (%s, %d): %s,\n", deparse(nm), t, num(unname(quantile(samples[[nm]], probs, type = t, na.rm = TRUE)))))
cat("}\n")
