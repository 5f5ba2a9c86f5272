# demo_report.R -- an independent R reference for the report of `xerotrial demo`.
#
# How to run (from the repository root):
#     .venv/bin/xerotrial demo --out /tmp/demo-ref
#     Rscript validation/demo_report.R /tmp/demo-ref tests/reference/demo_report.json
#
# Needs R (r-base-core) with r-cran-nlme, r-cran-emmeans and r-cran-jsonlite.
#
# Everything is recomputed from the RAW CRF files in DIR/crf/ (not from xerotrial's store,
# ADaM datasets or report), so the numbers are independent of xerotrial's derivations:
#
#   participants.csv  group (patient / control), enrolment_order (cohort: <= 5 CS5, else CS10)
#   visits.csv        the visit of every record must be a recorded visit of its subject;
#                     the analysis visit is the visit name, ordered by study day (day0 first)
#   sialometry.csv    flow (mL/min) = (cup_after_g - cup_before_g) / minutes, 1 g = 1 mL; the
#                     net weight is rounded to 9 decimals first (spec 5.1: only removes the
#                     binary noise of the subtraction of 2-decimal weights, so that equal flows
#                     are equal doubles and ties in the Wilcoxon test are real ties)
#                     % change = 100 * (y / day0 - 1), 0 at day0
#   saliva_ions.csv   value_mmol_l per kind (UWS/SWS) and ion (Na, K, Cl, PO4)
#   xq.csv            summary = mean of the answered items xq1..xq8 * 10 if >= 4 answered
#   qlq_hn35.csv      HNDR = hn41, HNSS = hn42 (single items: missing if unanswered),
#                     HNSW = hn35..hn38 (half rule: >= 2 of 4 answered);
#                     score = (mean of answered items - 1) * 100 / 3 (this order, as
#                     xerotrial.trial.questionnaires documents: 200/3 exactly for item = 3)
#   scintigraphy.csv  per subject and visit, the mean over the evaluable glands: all, parotid
#                     (pg), submandibular (smg), for uptake_score and excretion_fraction_pct
#   Means of items / glands are sum / count (one rounding), not mean() (R's mean() adds a
#   long-double correction pass that can differ in the last bit; a last-bit difference would
#   break or make a tie in the Wilcoxon test).
#
# Analyses (patients only):
#   models      nlme::lme(AVAL ~ visit, random = ~1 | subject, method = "REML"), visit a
#               factor over the visits at which the outcome was assessed (day0 first);
#               LS means emmeans(fit, ~visit) (lme default mode "containment" = nlme's
#               fixDF), each visit minus day0 contrast(..., "trt.vs.ctrl", adjust = "none"),
#               cross-checked against the lme coefficients (summary(fit)$tTable).
#               The optimizer is run with tight tolerances (see LME_CONTROL), yet stops up to
#               ~1e-6 (relative) from the REML optimum in var_subject / var_residual; so each
#               model is also evaluated at the exact optimum (reml_exact, block "exact").
#               df: visit contrasts get nlme's containment df (N - subjects - visit params),
#               as SAS and xerotrial. LS means: emmeans gives the smallest df of the terms
#               involved (the intercept's subjects - 1); SAS's LSMEANS (and xerotrial) use the
#               visit term's df, which the "exact" block uses.
#   wilcoxon    pairs day0 / day120 as observed: wilcox.test(day120, day0, paired = TRUE)
#               with R's defaults; medians and quartiles of all observed values of each
#               visit with quantile(type = 2) (= SAS PCTLDEF=5)
#   cohorts     anova(lme(AVAL ~ visit * cohort, random = ~1 | subject, REML),
#               type = "marginal"), the visit:cohort row (all 22 outcomes)
#   table1      day0, patients vs controls: Welch t.test(patients, controls), mean and SD
#   responders  patients with 100 * (day120 / day0 - 1) > 30 (UWS and SWS flow)
#
# Writes OUT.json with jsonlite::write_json(digits = NA, auto_unbox = TRUE, pretty = TRUE).

suppressPackageStartupMessages({
  library(nlme)
  library(emmeans)
  library(jsonlite)
})
options(digits = 15, warn = 1)

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: Rscript validation/demo_report.R DEMO_OUTPUT_DIR OUT.json")
demo_dir <- args[1]
out_file <- args[2]

read_crf <- function(name) {
  read.csv(file.path(demo_dir, "crf", paste0(name, ".csv")), stringsAsFactors = FALSE,
           na.strings = "", check.names = FALSE)
}

# fingerprint of the inputs: the tests check that the demo still makes the same CRF files
crf_files <- c("participants", "visits", "sialometry", "saliva_ions", "xq", "qlq_hn35",
               "scintigraphy")
crf_md5 <- setNames(unname(tools::md5sum(file.path(demo_dir, "crf", paste0(crf_files, ".csv")))),
                    paste0(crf_files, ".csv"))

# ------------------------------------------------------------------ participants and visits
people <- read_crf("participants")
stopifnot(!anyDuplicated(people$subject), all(people$group %in% c("patient", "control")))
patients <- sort(people$subject[people$group == "patient"])
controls <- sort(people$subject[people$group == "control"])
cohort_of <- setNames(ifelse(people$enrolment_order <= 5, "CS5", "CS10"), people$subject)

visits <- read_crf("visits")
stopifnot(!anyDuplicated(visits[, c("subject", "visit")]))
visit_day <- tapply(visits$study_day, visits$visit, median)
visit_order <- names(sort(visit_day))
stopifnot(visit_order[1] == "day0")
BASE <- "day0"
FOLLOW_UP <- "day120"

# every analysis record must sit at a visit recorded for its subject in visits.csv
check_visits <- function(d, what) {
  key <- paste(d$subject, d$visit)
  bad <- !key %in% paste(visits$subject, visits$visit)
  if (any(bad)) stop(what, ": records at visits not in visits.csv: ", paste(key[bad], collapse = ", "))
  invisible(d)
}

# long data: subject, visit, outcome, AVAL (non-missing values only)
long <- list()
add <- function(outcome, subject, visit, value) {
  keep <- !is.na(value)
  long[[outcome]] <<- data.frame(subject = subject[keep], visit = visit[keep],
                                 AVAL = as.numeric(value[keep]), stringsAsFactors = FALSE)
}

# ------------------------------------------------------------------ sialometry
sia <- check_visits(read_crf("sialometry"), "sialometry")
sia$kind <- toupper(sia$kind)
stopifnot(all(sia$kind %in% c("UWS", "SWS")), !anyDuplicated(sia[, c("subject", "visit", "kind")]))
net_raw <- sia$cup_after_g - sia$cup_before_g
sia$flow <- round(net_raw, 9) / sia$minutes
flow_rounding_effect <- max(abs(net_raw / sia$minutes - sia$flow) / sia$flow)
for (k in c("UWS", "SWS")) {
  s <- sia[sia$kind == k, ]
  add(paste0(tolower(k), "_ml_min"), s$subject, s$visit, s$flow)
  base <- setNames(s$flow[s$visit == BASE], s$subject[s$visit == BASE])
  pct <- 100 * (s$flow / base[s$subject] - 1)
  pct[s$visit == BASE] <- 0
  add(paste0(tolower(k), "_pct_change"), s$subject, s$visit, pct)
}

# ------------------------------------------------------------------ saliva ions
ions <- check_visits(read_crf("saliva_ions"), "saliva_ions")
ions$kind <- toupper(ions$kind)
stopifnot(!anyDuplicated(ions[, c("subject", "visit", "kind", "ion")]))
ION_NAMES <- c(Na = "sodium", K = "potassium", Cl = "chloride", PO4 = "phosphate")
stopifnot(all(ions$ion %in% names(ION_NAMES)))
for (k in c("UWS", "SWS")) for (ion in names(ION_NAMES)) {
  s <- ions[ions$kind == k & ions$ion == ion, ]
  add(paste0(tolower(k), "_", ION_NAMES[[ion]]), s$subject, s$visit, s$value_mmol_l)
}

# ------------------------------------------------------------------ questionnaires
# mean of the answered items (sum / count) when at least `need` are answered, else NA
answered_mean <- function(m, need) {
  m <- as.matrix(m)
  n <- rowSums(!is.na(m))
  s <- rowSums(m, na.rm = TRUE)
  ifelse(n >= need, s / n, NA_real_)
}
xq <- check_visits(read_crf("xq"), "xq")
stopifnot(!anyDuplicated(xq[, c("subject", "visit")]))
add("xq_summary", xq$subject, xq$visit, answered_mean(xq[, paste0("xq", 1:8)], 4) * 10)

hn <- check_visits(read_crf("qlq_hn35"), "qlq_hn35")
stopifnot(!anyDuplicated(hn[, c("subject", "visit")]))
hn_score <- function(items, need) (answered_mean(hn[, items, drop = FALSE], need) - 1) * 100 / 3
add("HNDR", hn$subject, hn$visit, hn_score("hn41", 1))
add("HNSS", hn$subject, hn$visit, hn_score("hn42", 1))
add("HNSW", hn$subject, hn$visit, hn_score(paste0("hn", 35:38), 2))

# ------------------------------------------------------------------ scintigraphy
sc <- check_visits(read_crf("scintigraphy"), "scintigraphy")
gland <- tolower(gsub("[ -]", "_", sc$gland))
stopifnot(all(gland %in% c("left_parotid", "right_parotid", "left_submandibular",
                           "right_submandibular")),
          !anyDuplicated(cbind(sc[, c("subject", "visit")], gland)))
gtype <- ifelse(grepl("parotid", gland), "parotid", "submandibular")
sv <- unique(sc[, c("subject", "visit")])
for (measure in c("uptake", "excretion")) {
  col <- if (measure == "uptake") "uptake_score" else "excretion_fraction_pct"
  for (grp in c("all", "pg", "smg")) {
    types <- switch(grp, all = c("parotid", "submandibular"), pg = "parotid",
                    smg = "submandibular")
    val <- mapply(function(s, v) {
      x <- sc[[col]][sc$subject == s & sc$visit == v & gtype %in% types]
      x <- x[!is.na(x)]
      if (length(x)) sum(x) / length(x) else NA_real_
    }, sv$subject, sv$visit)
    add(paste0("scint_", measure, "_", grp), sv$subject, sv$visit, val)
  }
}

OUTCOMES <- c("uws_ml_min", "uws_pct_change", "sws_ml_min", "sws_pct_change", "xq_summary",
              "HNDR", "HNSS", "HNSW", "scint_uptake_all", "scint_uptake_pg", "scint_uptake_smg",
              "scint_excretion_all", "scint_excretion_pg", "scint_excretion_smg",
              "uws_chloride", "sws_chloride", "uws_phosphate", "sws_phosphate",
              "uws_potassium", "sws_potassium", "uws_sodium", "sws_sodium")
stopifnot(setequal(names(long), OUTCOMES))

patient_data <- function(outcome) {
  d <- long[[outcome]]
  d <- d[d$subject %in% patients, ]
  present <- visit_order[visit_order %in% d$visit]
  d$visit <- factor(d$visit, levels = present)
  d$subject <- factor(d$subject)
  d
}

# ------------------------------------------------------------------ mixed models
# Tight optimizer settings: nlminb rel.tol 1e-14 (default msTol 1e-7), EM iterations first.
LME_CONTROL <- lmeControl(maxIter = 500, msMaxIter = 500, msMaxEval = 2000, niterEM = 100,
                          msTol = 1e-14, tolerance = 1e-12, returnObject = TRUE)

fit_lme <- function(formula, d) {
  warns <- character(0)
  fit <- withCallingHandlers(
    lme(formula, random = ~ 1 | subject, data = d, method = "REML", control = LME_CONTROL),
    warning = function(w) { warns <<- c(warns, conditionMessage(w))
                            invokeRestart("muffleWarning") })
  list(fit = fit, warnings = warns)
}

# ------------------------------------------------------------------ the exact REML optimum
# nlme's optimizer stops ~1e-7 (relative) away from the REML optimum on these data, even with
# the tight LME_CONTROL. For a random-intercept model the optimum is one number,
# g = var_subject / var_residual, so it is found here to machine precision: root of the
# analytic derivative of the profiled -2 REML log-likelihood
#   (N - p) log(rss(g) / (N - p)) + sum_i log(1 + n_i g) + log|X' V0^-1 X|,
#   V0_i = I + g J (subject i, n_i records), V0_i^-1 = I - g / (1 + n_i g) J,
# with d rss / dg = -sum_i (sum r_i)^2 / (1 + n_i g)^2 (envelope theorem) and
# d log|A| / dg = -tr(A^-1 sum_i s_i s_i' / (1 + n_i g)^2), s_i = colSums(X_i).
# If the derivative is >= 0 at g = 0 the optimum is on the boundary g = 0 (as xerotrial and
# SAS then report a zero variance). Inference from it: Cov(beta) = s2 (X' V0^-1 X)^-1 with the
# same (containment) df as nlme / emmeans.
reml_exact <- function(y, X, subject) {
  subject <- as.character(subject)
  ids <- unique(subject)
  N <- length(y)
  p <- ncol(X)
  ni <- as.numeric(table(factor(subject, levels = ids)))
  Sx <- rowsum(X, subject, reorder = FALSE)[ids, , drop = FALSE]   # s_i = colSums(X_i)
  Sy <- rowsum(y, subject, reorder = FALSE)[ids, 1]
  XtX <- crossprod(X)
  Xty <- crossprod(X, y)[, 1]
  yty <- sum(y^2)
  parts <- function(g) {
    c_i <- g / (1 + ni * g)
    A <- XtX - crossprod(Sx * sqrt(c_i))
    b <- Xty - colSums(Sx * (c_i * Sy))
    beta <- solve(A, b)
    rss <- yty - sum(c_i * Sy^2) - sum(b * beta)
    list(A = A, beta = beta, rss = rss)
  }
  deriv <- function(g) {
    q <- parts(g)
    w <- 1 / (1 + ni * g)^2
    r_sum <- Sy - (Sx %*% q$beta)[, 1]                 # sum of residuals per subject
    d_rss <- -sum(w * r_sum^2)
    d_logdet <- -sum(diag(solve(q$A, crossprod(Sx * sqrt(w)))))
    (N - p) * d_rss / q$rss + sum(ni / (1 + ni * g)) + d_logdet
  }
  if (deriv(0) >= 0) {
    g <- 0
  } else {
    hi <- 1
    while (deriv(hi) < 0) hi <- hi * 4
    g <- uniroot(deriv, c(0, hi), tol = 1e-15 * hi, maxiter = 1000)$root
    # a few secant steps to the last bit of g
    for (k in 1:5) {
      h <- max(g * 1e-7, 1e-12)
      g_new <- g - deriv(g) * 2 * h / (deriv(g + h) - deriv(g - h))
      if (!is.finite(g_new) || g_new <= 0) break
      g <- g_new
    }
  }
  q <- parts(g)
  s2 <- q$rss / (N - p)
  list(g = g, boundary = g == 0, derivative_at_g = deriv(g), var_residual = s2,
       var_subject = g * s2, beta = setNames(q$beta, colnames(X)),
       vcov = s2 * solve(q$A))
}

# a linear function L beta of an exact fit: estimate, se, df, 95% CI, t, p
exact_estimate <- function(ex, L, df) {
  est <- sum(L * ex$beta)
  se <- sqrt(drop(t(L) %*% ex$vcov %*% L))
  crit <- qt(0.975, df)
  list(estimate = est, se = se, df = df, lower = est - crit * se, upper = est + crit * se,
       t = est / se, p = 2 * pt(-abs(est / se), df))
}

row_list <- function(df, key) {
  out <- lapply(seq_len(nrow(df)), function(i) as.list(df[i, setdiff(names(df), key)]))
  setNames(out, as.character(df[[key]]))
}

models <- list()
for (o in OUTCOMES) {
  d <- patient_data(o)
  lv <- levels(d$visit)
  stopifnot(lv[1] == BASE, FOLLOW_UP %in% lv)
  f <- fit_lme(AVAL ~ visit, d)
  fit <- f$fit
  vc <- as.numeric(VarCorr(fit)[, "Variance"])
  emm <- emmeans(fit, ~ visit)
  ls <- as.data.frame(summary(emm, infer = c(TRUE, TRUE), level = 0.95))
  con <- contrast(emm, "trt.vs.ctrl", ref = 1, adjust = "none")
  cs <- as.data.frame(summary(con, infer = c(TRUE, TRUE), level = 0.95, adjust = "none"))
  cs$visit <- sub(" - .*$", "", as.character(cs$contrast))
  # the same contrasts from the lme coefficients (treatment coding, day0 reference)
  tt <- summary(fit)$tTable
  coef_rows <- paste0("visit", cs$visit)
  crit <- qt(0.975, tt[coef_rows, "DF"])
  coef_check <- max(abs(c(tt[coef_rows, "Value"] - cs$estimate,
                          tt[coef_rows, "Std.Error"] - cs$SE,
                          tt[coef_rows, "DF"] - cs$df,
                          tt[coef_rows, "p-value"] - cs$p.value,
                          tt[coef_rows, "Value"] - crit * tt[coef_rows, "Std.Error"] - cs$lower.CL)))
  both <- intersect(as.character(d$subject[d$visit == BASE]),
                    as.character(d$subject[d$visit == FOLLOW_UP]))
  lsm <- data.frame(visit = as.character(ls$visit), estimate = ls$emmean, se = ls$SE,
                    df = ls$df, lower = ls$lower.CL, upper = ls$upper.CL, t = ls$t.ratio,
                    p = ls$p.value, stringsAsFactors = FALSE)
  cons <- data.frame(visit = cs$visit, estimate = cs$estimate, se = cs$SE, df = cs$df,
                     lower = cs$lower.CL, upper = cs$upper.CL, t = cs$t.ratio, p = cs$p.value,
                     stringsAsFactors = FALSE)
  X <- model.matrix(AVAL ~ visit, d)
  ex <- reml_exact(d$AVAL, X, d$subject)
  # the exact REML optimum and its LS means / contrasts. Contrast df: nlme's containment df
  # (= emmeans'). LS-mean df: the df of the visit term (SAS's LSMEANS convention, which
  # xerotrial follows); emmeans instead takes the smallest df of the terms involved, i.e.
  # the intercept's between-subject df (#subjects - 1), see lsmeans above.
  df_visit <- unname(fit$fixDF$terms["visit"])
  ex_ls <- lapply(setNames(lv, lv), function(v) {
    L <- c(1, as.numeric(lv[-1] == v))
    exact_estimate(ex, L, df_visit)
  })
  ex_con <- lapply(setNames(lv[-1], lv[-1]), function(v) {
    L <- c(0, as.numeric(lv[-1] == v))
    exact_estimate(ex, L, cons$df[cons$visit == v])
  })
  eb <- ex_ls[[BASE]]
  efu <- ex_ls[[FOLLOW_UP]]
  ecf <- ex_con[[FOLLOW_UP]]
  rel_gap <- function(a, b) max(abs(a - b) / pmax(abs(b), 1e-300))
  b <- lsm[lsm$visit == BASE, ]
  fu <- lsm[lsm$visit == FOLLOW_UP, ]
  cf <- cons[cons$visit == FOLLOW_UP, ]
  models[[o]] <- list(
    visits = I(lv), n_obs = nrow(d), n_subjects = nlevels(d$subject),
    var_subject = vc[1], var_residual = vc[2],
    reml_loglik = as.numeric(logLik(fit)),
    df_visit_term = df_visit, df_intercept = unname(fit$fixDF$terms["(Intercept)"]),
    warnings = I(f$warnings),
    max_abs_diff_emmeans_vs_coefficients = coef_check,
    table3 = list(n = length(both), baseline_lsmean = b$estimate, baseline_se = b$se,
                  followup_lsmean = fu$estimate, followup_se = fu$se,
                  difference = cf$estimate, ci_lower = cf$lower, ci_upper = cf$upper,
                  p_value = cf$p, df = cf$df),
    lsmeans = row_list(lsm, "visit"),
    contrasts_vs_day0 = row_list(cons, "visit"),
    exact = list(
      g = ex$g, boundary = ex$boundary, derivative_at_g = ex$derivative_at_g,
      var_subject = ex$var_subject, var_residual = ex$var_residual,
      nlme_max_rel_gap_se = rel_gap(cons$se, sapply(ex_con, `[[`, "se")),
      table3 = list(n = length(both), baseline_lsmean = eb$estimate, baseline_se = eb$se,
                    followup_lsmean = efu$estimate, followup_se = efu$se,
                    difference = ecf$estimate, ci_lower = ecf$lower, ci_upper = ecf$upper,
                    p_value = ecf$p, df = ecf$df),
      lsmeans = ex_ls, contrasts_vs_day0 = ex_con))
}

one_month <- list()
for (o in c("uws_ml_min", "sws_ml_min")) {
  m <- models[[o]]
  ls <- m$lsmeans[["day30"]]
  c30 <- m$contrasts_vs_day0[["day30"]]
  e_ls <- m$exact$lsmeans[["day30"]]
  e_c <- m$exact$contrasts_vs_day0[["day30"]]
  one_month[[o]] <- list(lsmean = ls$estimate, se = ls$se, lsmean_df = ls$df,
                         difference = c30$estimate, ci_lower = c30$lower, ci_upper = c30$upper,
                         p_value = c30$p, df = c30$df,
                         exact = list(lsmean = e_ls$estimate, se = e_ls$se,
                                      difference = e_c$estimate, ci_lower = e_c$lower,
                                      ci_upper = e_c$upper, p_value = e_c$p, df = e_c$df))
}

# ------------------------------------------------------------------ Wilcoxon sensitivity
q2 <- function(x) unname(quantile(x, c(0.25, 0.5, 0.75), type = 2))
wilcoxon <- list()
for (o in OUTCOMES[!grepl("_pct_change$", OUTCOMES)]) {
  d <- long[[o]]
  d <- d[d$subject %in% patients, ]
  x0 <- setNames(d$AVAL[d$visit == BASE], d$subject[d$visit == BASE])
  x1 <- setNames(d$AVAL[d$visit == FOLLOW_UP], d$subject[d$visit == FOLLOW_UP])
  pair <- sort(intersect(names(x0), names(x1)))
  warns <- character(0)
  w <- withCallingHandlers(
    wilcox.test(x1[pair], x0[pair], paired = TRUE),
    warning = function(w) { warns <<- c(warns, conditionMessage(w))
                            invokeRestart("muffleWarning") })
  dif <- x1[pair] - x0[pair]
  nz <- dif[dif != 0]
  qb <- q2(x0)
  qf <- q2(x1)
  wilcoxon[[o]] <- list(
    n_pairs = length(pair), n_baseline = length(x0), n_followup = length(x1),
    baseline_median = qb[2], baseline_q1 = qb[1], baseline_q3 = qb[3],
    followup_median = qf[2], followup_q1 = qf[1], followup_q3 = qf[3],
    V = unname(w$statistic), p_value = w$p.value, method = w$method,
    n_zero_differences = sum(dif == 0),
    has_ties = length(unique(abs(nz))) != length(nz),
    warnings = I(warns))
}

# ------------------------------------------------------------------ CS5 versus CS10
cohorts <- list()
for (o in OUTCOMES) {
  d <- patient_data(o)
  d$cohort <- factor(cohort_of[as.character(d$subject)], levels = c("CS5", "CS10"))
  stopifnot(!anyNA(d$cohort))
  f <- fit_lme(AVAL ~ visit * cohort, d)
  a <- anova(f$fit, type = "marginal")
  r <- a["visit:cohort", ]
  # the same F test at the exact REML optimum: Wald F of the interaction coefficients
  X <- model.matrix(AVAL ~ visit * cohort, d)
  ex <- reml_exact(d$AVAL, X, d$subject)
  j <- grep(":", colnames(X))
  bj <- ex$beta[j]
  F_exact <- drop(t(bj) %*% solve(ex$vcov[j, j], bj)) / length(j)
  cohorts[[o]] <- list(F = r[["F-value"]], num_df = r[["numDF"]], den_df = r[["denDF"]],
                       p_value = r[["p-value"]], warnings = I(f$warnings),
                       exact = list(g = ex$g, boundary = ex$boundary, F = F_exact,
                                    num_df = length(j), den_df = r[["denDF"]],
                                    p_value = pf(F_exact, length(j), r[["denDF"]],
                                                 lower.tail = FALSE)))
}

# ------------------------------------------------------------------ Table 1 saliva rows
TABLE1 <- c("uws_ml_min", "sws_ml_min", paste0(rep(c("uws_", "sws_"), each = 4),
                                                 rep(ION_NAMES, 2)))
table1 <- list()
for (o in TABLE1) {
  d <- long[[o]]
  d <- d[d$visit == BASE, ]
  a <- d$AVAL[d$subject %in% patients]
  b <- d$AVAL[d$subject %in% controls]
  tt <- t.test(a, b)
  table1[[o]] <- list(patients_n = length(a), patients_mean = mean(a), patients_sd = sd(a),
                      controls_n = length(b), controls_mean = mean(b), controls_sd = sd(b),
                      t = unname(tt$statistic), df = unname(tt$parameter),
                      p_value = tt$p.value)
}
table1_groups <- list(patients = length(patients), controls = length(controls))

# ------------------------------------------------------------------ responders
responders <- list()
for (o in c("uws_ml_min", "sws_ml_min")) {
  d <- long[[o]]
  d <- d[d$subject %in% patients, ]
  x0 <- setNames(d$AVAL[d$visit == BASE], d$subject[d$visit == BASE])
  x1 <- setNames(d$AVAL[d$visit == FOLLOW_UP], d$subject[d$visit == FOLLOW_UP])
  pair <- sort(intersect(names(x0), names(x1)))
  pct <- 100 * (x1[pair] / x0[pair] - 1)
  hit <- pair[pct > 30]
  responders[[o]] <- list(n = length(pair), responders = length(hit), subjects = I(hit),
                          min_distance_to_threshold = min(abs(pct - 30)))
}

# ------------------------------------------------------------------ write
ver <- function(p) as.character(packageVersion(p))
result <- list(
  `_meta` = list(
    script = "validation/demo_report.R",
    input = "the raw CRF files of `xerotrial demo --out DIR` (DIR/crf/*.csv)",
    R = R.version.string,
    packages = list(nlme = ver("nlme"), emmeans = ver("emmeans"), jsonlite = ver("jsonlite"),
                    estimability = ver("estimability")),
    lme_control = list(msTol = 1e-14, tolerance = 1e-12, niterEM = 100, msMaxIter = 500),
    visits = I(visit_order), baseline = BASE, follow_up = FOLLOW_UP,
    patients = I(patients), controls = I(controls),
    cohorts = as.list(cohort_of[patients]),
    crf_md5 = as.list(crf_md5),
    flow_net_weight_rounding_max_rel_effect = flow_rounding_effect,
    notes = I(c(
      "models.*.lsmeans / contrasts_vs_day0: emmeans on nlme::lme, df mode 'containment' (emmeans' default for lme: nlme's fixDF; a visit contrast gets the visit term's df N - #subjects - #visit parameters, an LS mean the smallest df of its terms, i.e. the intercept's #subjects - 1)",
      "models.*.exact: the same model at the exact REML optimum (1-D root of the analytic derivative of the profiled REML likelihood in g = var_subject / var_residual; g = 0 on the boundary); LS means with the visit term's df (SAS LSMEANS with DDFM=CONTAIN, as xerotrial), contrasts with nlme's df",
      "contrasts: contrast(emm, 'trt.vs.ctrl', ref = 1, adjust = 'none'); max_abs_diff_emmeans_vs_coefficients compares them with summary(lme)$tTable",
      "wilcoxon: wilcox.test(day120, day0, paired = TRUE) with R's defaults (exact for n < 50 without ties/zeros, else normal approximation with continuity correction); quartiles quantile(type = 2) of all observed values of each visit",
      "cohorts: anova.lme(type = 'marginal'), visit:cohort row; cohort CS5 = enrolment_order <= 5",
      "table1: day0 values, Welch t.test(patients, controls)"))),
  models = models,
  one_month = one_month,
  wilcoxon = wilcoxon,
  cohorts = cohorts,
  table1 = table1,
  table1_groups = table1_groups,
  responders = responders)

dir.create(dirname(out_file), recursive = TRUE, showWarnings = FALSE)
write_json(result, out_file, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
cat("wrote", out_file, "\n")
