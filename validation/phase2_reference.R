# Independent R reference for the phase II example study (examples/phase2/).
#
# How to run (from the repository root):
#
#     Rscript validation/phase2_reference.R
#
# It reads examples/phase2/records.csv (the REDCap raw records export that
# examples/phase2/make_data.py writes) by itself -- no xerotrial code, no files the product
# writes -- derives UWS, SWS and XQ, BASE and CHG on its own, fits the analysis plan of
# examples/phase2/study.toml ([analysis]) for every end point and writes
# tests/reference/phase2_reference.json (full double precision).
#
# Needs R >= 4.1 with mmrm (>= 0.3; built here from source, v0.3.18, github
# openpharma/mmrm, with Debian's r-cran-tmb, r-cran-rcppeigen, ...), emmeans, nlme and
# jsonlite. R is not part of the product: the JSON it writes is committed as test data.
#
# What is computed (the plan of study.toml, restated here on purpose, not read from it):
#
# - Events <visit>_arm_<N>: N is the N-th arm of the definition, 1 = atmsc, 2 = placebo.
#   Visit rows are the rows without redcap_repeat_instrument.
# - UWS = (uws_after_g - uws_before_g) / uws_minutes, SWS likewise (mL/min; 1 g = 1 mL); the
#   net weight is rounded to 9 decimals before the division (it is a difference of weights
#   given to 0.01 g: this removes floating-point noise, as the product does). Missing when a
#   weight or the time is blank.
# - XQ = mean of the answered items xq1..xq8 x 10; missing when fewer than 4 are answered.
# - BASE = the value at visit baseline; CHG = AVAL - BASE (missing without BASE).
# - analysis_values: one row per subject and analysis visit (month_1, month_4, month_12)
#   at which the source form (sialometry or xq) was entered; AVAL, BASE, CHG null when
#   missing. Sorted by subject (as text) and visit order.
# - The model: CHG ~ BASE + ARM * AVISIT, ARM levels (atmsc, placebo), AVISIT levels
#   (month_1, month_4, month_12), unstructured covariance over AVISIT within subject, REML,
#   fitted on the rows with a CHG (and so a BASE). mmrm:
#     mmrm(CHG ~ BASE + ARM * AVISIT + us(AVISIT | subject), reml = TRUE,
#          method = "Kenward-Roger", vcov = "Kenward-Roger-Linear")
#   with a tight BFGS optimiser (see fit_with below).
#   Kenward-Roger-Linear: the adjusted covariance of the fixed effects without the
#   second-derivative term, i.e. Kenward-Roger for the covariance parameterised by the
#   elements of Sigma (invariant to the parameterisation; what SAS PROC MIXED DDFM=KR gives
#   with TYPE=UN). The KR df themselves use only first derivatives (same either way); for
#   a one-dimensional contrast they equal the Satterthwaite df (mmrm's kenward vignette):
#   KR and Satterthwaite differ in the SE (adjusted vs asymptotic covariance of beta).
# - LS means: emmeans(fit, ~ ARM | AVISIT), i.e. BASE at its mean over the rows of the fit
#   (base_mean in the JSON; as SAS LSMEANS); diffs: atmsc - placebo within each AVISIT;
#   95% CI with t quantiles at the KR df; two-sided p. Each diff is checked against
#   mmrm::df_1d of the same contrast.
# - covariance: the estimated 3 x 3 Sigma (rows and columns in AVISIT order).
# - "satterthwaite": the same model with method = "Satterthwaite" (asymptotic covariance
#   of the fixed effects), its LS means and diffs, in case the plan says df = "satterthwaite".
# - A cross-check printed (not stored): nlme::gls with corSymm + varIdent, REML, gives the
#   same fixed effects and Sigma (to ~1e-5 relative: the REML surface is flat there; mmrm's
#   optimum has the higher log-likelihood). Compare with tolerances of about 1e-5 relative
#   for estimates, SEs and Sigma, 1e-4 for df.
# - single_arm: the plan without arms (the seed trial's kind: each visit minus baseline),
#   AVAL ~ AVISIT over the four visits, compound symmetry, Kenward-Roger (linear), for UWS
#   and XQ; LS means per visit and each visit minus baseline, unadjusted CIs and p.
# - Extra keys beyond the plan's layout: n_observations, df_method, base_mean,
#   reml_minus2loglik, satterthwaite; JSON null = missing (NA).
# - mmrm warns that it was compiled with TMB < 1.9.15 (Debian bookworm has 1.9.2); the fit
#   is deterministic here and checked against gls above.

suppressPackageStartupMessages({
  library(mmrm)
  library(emmeans)
  library(nlme)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
records_path <- if (length(args) >= 1) args[[1]] else "examples/phase2/records.csv"
out_path <- if (length(args) >= 2) args[[2]] else "tests/reference/phase2_reference.json"

ARMS <- c("atmsc", "placebo") # arm N of an event name is ARMS[N]
VISITS <- c("baseline", "month_1", "month_4", "month_12")
ANALYSIS_VISITS <- c("month_1", "month_4", "month_12")

raw <- read.csv(records_path, colClasses = "character", na.strings = "", check.names = FALSE)
vis <- raw[is.na(raw$redcap_repeat_instrument), ]
m <- regmatches(vis$redcap_event_name, regexec("^(.+)_arm_([0-9]+)$", vis$redcap_event_name))
vis$visit <- vapply(m, `[`, "", 2)
vis$arm <- ARMS[as.integer(vapply(m, `[`, "", 3))]
stopifnot(all(vis$visit %in% VISITS), !anyNA(vis$arm))
stopifnot(!anyDuplicated(paste(vis$subject, vis$visit)))
arm_of <- tapply(vis$arm, vis$subject, function(a) {
  stopifnot(length(unique(a)) == 1)
  a[[1]]
})

num <- function(x) as.numeric(x)
# a form is entered on a row when any of its fields has a value or its status is 1 or 2
entered <- function(cols, status) {
  any_value <- Reduce(`|`, lapply(cols, function(c) !is.na(vis[[c]])))
  st <- vis[[status]]
  any_value | (!is.na(st) & st %in% c("1", "2"))
}

flow <- function(before, after, minutes) {
  round(num(vis[[after]]) - num(vis[[before]]), 9) / num(vis[[minutes]])
}

sial_cols <- c(
  "uws_before_g", "uws_after_g", "uws_minutes", "sws_before_g", "sws_after_g", "sws_minutes"
)
xq_cols <- paste0("xq", 1:8)
items <- sapply(xq_cols, function(c) num(vis[[c]]))
n_answered <- rowSums(!is.na(items))
xq_score <- ifelse(n_answered >= 4, rowMeans(items, na.rm = TRUE) * 10, NA_real_)

params <- list(
  UWS = list(
    aval = flow("uws_before_g", "uws_after_g", "uws_minutes"),
    entered = entered(sial_cols, "sialometry_complete")
  ),
  SWS = list(
    aval = flow("sws_before_g", "sws_after_g", "sws_minutes"),
    entered = entered(sial_cols, "sialometry_complete")
  ),
  XQ = list(aval = xq_score, entered = entered(xq_cols, "xq_complete"))
)

endpoint <- function(param) {
  p <- params[[param]]
  d <- data.frame(
    subject = vis$subject, visit = vis$visit, ARM = vis$arm, AVAL = p$aval,
    stringsAsFactors = FALSE
  )[p$entered, ]
  base <- d[d$visit == "baseline" & !is.na(d$AVAL), c("subject", "AVAL")]
  names(base)[2] <- "BASE"
  d <- d[d$visit %in% ANALYSIS_VISITS, ]
  d <- merge(d, base, by = "subject", all.x = TRUE, sort = FALSE)
  d$CHG <- d$AVAL - d$BASE
  d <- d[order(d$subject, match(d$visit, VISITS)), ]
  values <- lapply(seq_len(nrow(d)), function(i) {
    list(d$subject[i], d$visit[i], d$AVAL[i], d$BASE[i], d$CHG[i])
  })

  a <- d[!is.na(d$CHG), ]
  a$ARM <- factor(a$ARM, levels = ARMS)
  a$AVISIT <- factor(a$visit, levels = ANALYSIS_VISITS)
  a$subject <- factor(a$subject)
  # a tight optimiser (BFGS, reltol 1e-15): mmrm's default stops with gradients near 1e-3,
  # ~1e-4 relative from the optimum; this one reaches ~1e-6 (agrees with a tight gls to ~1e-7)
  fit_with <- function(method, vcov) {
    ctl <- mmrm_control(
      method = method, vcov = vcov,
      optimizer = "BFGS", optimizer_control = list(reltol = 1e-15, maxit = 5000)
    )
    mmrm(CHG ~ BASE + ARM * AVISIT + us(AVISIT | subject), data = a, reml = TRUE, control = ctl)
  }
  fits <- list(
    kr = fit_with("Kenward-Roger", "Kenward-Roger-Linear"),
    sat = fit_with("Satterthwaite", "Asymptotic")
  )
  results <- lapply(fits, function(fit) {
    emm <- emmeans(fit, ~ ARM | AVISIT)
    ls <- as.data.frame(summary(emm, infer = c(TRUE, FALSE)))
    lsmeans <- lapply(seq_len(nrow(ls)), function(i) {
      list(
        arm = as.character(ls$ARM[i]), visit = as.character(ls$AVISIT[i]),
        estimate = ls$emmean[i], se = ls$SE[i], df = ls$df[i],
        lower = ls$lower.CL[i], upper = ls$upper.CL[i]
      )
    })
    pr <- as.data.frame(summary(pairs(emm), infer = c(TRUE, TRUE)))
    stopifnot(all(pr$contrast == "atmsc - placebo"))
    # the same contrasts by mmrm itself (df_1d), from the reference grid's linear functions
    lf <- emm@linfct
    diffs <- lapply(seq_len(nrow(pr)), function(i) {
      v <- as.character(pr$AVISIT[i])
      rows <- summary(emm)$AVISIT == v
      arm <- as.character(summary(emm)$ARM)
      cvec <- lf[rows & arm == "atmsc", ] - lf[rows & arm == "placebo", ]
      chk <- df_1d(fit, cvec)
      stopifnot(
        abs(chk$est - pr$estimate[i]) < 1e-10, abs(chk$se - pr$SE[i]) < 1e-10,
        abs(chk$df - pr$df[i]) < 1e-8 * pr$df[i]
      )
      list(
        visit = v, estimate = pr$estimate[i], se = pr$SE[i], df = pr$df[i],
        lower = pr$lower.CL[i], upper = pr$upper.CL[i], p = pr$p.value[i]
      )
    })
    list(lsmeans = lsmeans, diffs = diffs, fit = fit)
  })
  kr <- results$kr$fit
  sigma <- unname(VarCorr(kr))

  # cross-check (printed only): nlme::gls, the same marginal model
  g <- gls(
    CHG ~ BASE + ARM * AVISIT, data = a,
    correlation = corSymm(form = ~ as.integer(AVISIT) | subject),
    weights = varIdent(form = ~ 1 | AVISIT), method = "REML",
    control = glsControl(
      tolerance = 1e-12, msTol = 1e-12, maxIter = 500, msMaxIter = 500, opt = "nlminb"
    )
  )
  complete <- names(which(table(a$subject) == length(ANALYSIS_VISITS)))[[1]]
  sigma_g <- unname(as.matrix(getVarCov(g, individual = complete)))
  cat(sprintf(
    paste(
      "%s: n = %d subjects, %d rows; max |gradient| %.2g;",
      "mmrm vs gls: max |beta| rel diff %.2g, max |Sigma| rel diff %.2g\n"
    ),
    param, nlevels(a$subject), nrow(a), max(abs(kr$tmb_object$gr(kr$theta_est))),
    max(abs(coef(kr) - coef(g)) / abs(coef(g))),
    max(abs(sigma - sigma_g) / abs(sigma))
  ))

  list(
    param = param,
    n_subjects = nlevels(a$subject),
    n_observations = nrow(a),
    df_method = "Kenward-Roger (mmrm method Kenward-Roger, vcov Kenward-Roger-Linear)",
    base_mean = mean(a$BASE),
    analysis_values = values,
    lsmeans = results$kr$lsmeans,
    diffs = results$kr$diffs,
    covariance = lapply(seq_len(nrow(sigma)), function(i) sigma[i, ]),
    reml_minus2loglik = -2 * as.numeric(logLik(kr)),
    satterthwaite = list(lsmeans = results$sat$lsmeans, diffs = results$sat$diffs)
  )
}

# Single-arm pre/post analyses (the seed trial's kind; a plan without arms): every subject
# of both arms, AVAL ~ AVISIT over all four visits, compound symmetry over AVISIT within
# subject, REML, Kenward-Roger (linear: SAS's CS is linear in its parameters, so the
# second-derivative term vanishes there); LS means per visit and each visit minus baseline.
# tests/test_phase2_example.py fits the same with covariance "cs" (UWS) and
# "random-intercept" (XQ: the same marginal model while the correlation is positive).
single_arm <- function(param) {
  p <- params[[param]]
  d <- data.frame(subject = vis$subject, visit = vis$visit, AVAL = p$aval)[p$entered, ]
  d <- d[!is.na(d$AVAL), ]
  d$AVISIT <- factor(d$visit, levels = VISITS)
  d$subject <- factor(d$subject)
  ctl <- mmrm_control(
    method = "Kenward-Roger", vcov = "Kenward-Roger-Linear",
    optimizer = "BFGS", optimizer_control = list(reltol = 1e-15, maxit = 5000)
  )
  fit <- mmrm(AVAL ~ AVISIT + cs(AVISIT | subject), data = d, reml = TRUE, control = ctl)
  emm <- emmeans(fit, ~ AVISIT)
  ls <- as.data.frame(summary(emm, infer = c(TRUE, FALSE)))
  pr <- as.data.frame(summary(
    contrast(emm, "trt.vs.ctrl", ref = 1), infer = c(TRUE, TRUE), adjust = "none"
  ))
  list(
    param = param,
    n_subjects = nlevels(d$subject),
    n_observations = nrow(d),
    lsmeans = lapply(seq_len(nrow(ls)), function(i) list(
      visit = as.character(ls$AVISIT[i]), estimate = ls$emmean[i], se = ls$SE[i],
      df = ls$df[i], lower = ls$lower.CL[i], upper = ls$upper.CL[i]
    )),
    diffs = lapply(seq_len(nrow(pr)), function(i) list(
      visit = sub(" - baseline$", "", as.character(pr$contrast[i])), estimate = pr$estimate[i],
      se = pr$SE[i], df = pr$df[i], lower = pr$lower.CL[i], upper = pr$upper.CL[i],
      p = pr$p.value[i]
    ))
  )
}

out <- list(
  description = paste(
    "Independent R reference for examples/phase2 (validation/phase2_reference.R):",
    "CHG ~ BASE + ARM * AVISIT, unstructured covariance over AVISIT within subject, REML;",
    "LS means of ARM within AVISIT and atmsc - placebo, Kenward-Roger df (linear)."
  ),
  source = records_path,
  arms = ARMS,
  visits = ANALYSIS_VISITS,
  r_version = R.version.string,
  packages = list(
    mmrm = as.character(packageVersion("mmrm")),
    emmeans = as.character(packageVersion("emmeans")),
    nlme = as.character(packageVersion("nlme")),
    TMB = as.character(packageVersion("TMB")),
    jsonlite = as.character(packageVersion("jsonlite"))
  ),
  endpoints = lapply(c("UWS", "SWS", "XQ"), endpoint),
  single_arm = lapply(c("UWS", "XQ"), single_arm)
)
dir.create(dirname(out_path), showWarnings = FALSE, recursive = TRUE)
write_json(out, out_path, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
cat("wrote", out_path, "\n")
