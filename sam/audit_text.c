/*
 * Text forms of audit data for people and other programs: RFC 3339 times (computed with the
 * civil-calendar arithmetic of the proleptic Gregorian calendar, independent of the process's
 * time zone and locale) and lowercase hex.
 */
#include <string.h>

#include "sam/audit_internal.h"

#define US_PER_SEC  1000000LL
#define SEC_PER_DAY 86400LL

/* Days since 1970-01-01 of a civil date (y, m 1..12, d 1..31). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The civil date of a day count since 1970-01-01. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

bool qs_audit_time_format(int64_t us, char buf[static QS_AUDIT_TIME_LEN + 1])
{
    int64_t secs = floor_div(us, US_PER_SEC);
    int64_t frac = us - secs * US_PER_SEC;
    int64_t days = floor_div(secs, SEC_PER_DAY);
    int64_t sod = secs - days * SEC_PER_DAY;
    int64_t y;
    int m, d;

    buf[0] = '\0';
    civil_from_days(days, &y, &m, &d);
    if (y < 1 || y > 9999)
        return false;
    static const char digits[] = "0123456789";
    int hh = (int)(sod / 3600), mi = (int)(sod / 60 % 60), ss = (int)(sod % 60);
    const int64_t fields[] = {y, m, d, hh, mi, ss, frac};
    const int widths[] = {4, 2, 2, 2, 2, 2, 6};
    const char seps[] = {'-', '-', 'T', ':', ':', '.', 'Z'};
    size_t o = 0;
    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
        int64_t v = fields[i];
        for (int k = widths[i] - 1; k >= 0; k--) {
            buf[o + (size_t)k] = digits[v % 10];
            v /= 10;
        }
        o += (size_t)widths[i];
        buf[o++] = seps[i];
    }
    buf[o] = '\0';
    return o == QS_AUDIT_TIME_LEN;
}

/* n decimal digits at *p (advanced); -1 if they are not all digits. */
static int64_t take_digits(const char **p, int n)
{
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    return v;
}

static int days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

bool qs_audit_time_parse(const char *s, int64_t *us)
{
    const char *p = s;
    int64_t y, mo, d, hh = 0, mi = 0, ss = 0, frac = 0, offset_min = 0;

    *us = 0;
    if (s == NULL)
        return false;
    if ((y = take_digits(&p, 4)) < 1 || *p++ != '-' || (mo = take_digits(&p, 2)) < 1 || mo > 12 ||
        *p++ != '-' || (d = take_digits(&p, 2)) < 1 || d > days_in_month(y, (int)mo))
        return false;
    if (*p != '\0') {
        if (*p != 'T' && *p != 't' && *p != ' ')
            return false;
        p++;
        if ((hh = take_digits(&p, 2)) < 0 || hh > 23 || *p++ != ':' ||
            (mi = take_digits(&p, 2)) < 0 || mi > 59 || *p++ != ':' ||
            (ss = take_digits(&p, 2)) < 0 || ss > 59)
            return false;
        if (*p == '.') {
            p++;
            int n = 0;
            while (p[n] >= '0' && p[n] <= '9')
                n++;
            if (n < 1 || n > 6)
                return false;
            frac = take_digits(&p, n);
            for (int k = n; k < 6; k++)
                frac *= 10;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1;
            int64_t oh, om;
            if ((oh = take_digits(&p, 2)) < 0 || oh > 23 || *p++ != ':' ||
                (om = take_digits(&p, 2)) < 0 || om > 59)
                return false;
            offset_min = sign * (oh * 60 + om);
        } else {
            return false;
        }
        if (*p != '\0')
            return false;
    }
    int64_t secs = days_from_civil(y, (int)mo, (int)d) * SEC_PER_DAY + hh * 3600 + mi * 60 + ss -
                   offset_min * 60;
    *us = secs * US_PER_SEC + frac;
    return true;
}

void qs_audit_hex(const uint8_t *b, size_t n, char *out)
{
    static const char hexd[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexd[b[i] >> 4];
        out[2 * i + 1] = hexd[b[i] & 0xf];
    }
    out[2 * n] = '\0';
}

void qs_audit_uuid_text(const uint8_t u[static QS_AUDIT_UUID_LEN], char out[static 37])
{
    char hex[2 * QS_AUDIT_UUID_LEN + 1];
    qs_audit_hex(u, QS_AUDIT_UUID_LEN, hex);
    size_t o = 0;
    for (size_t i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20)
            out[o++] = '-';
        out[o++] = hex[i];
    }
    out[o] = '\0';
}

bool qs_audit_uuid_parse(const char *s, uint8_t out[static QS_AUDIT_UUID_LEN])
{
    size_t k = 0;
    memset(out, 0, QS_AUDIT_UUID_LEN);
    if (s == NULL || strlen(s) != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
            continue;
        }
        int v;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v = c - 'A' + 10;
        else
            return false;
        out[k / 2] = (uint8_t)(out[k / 2] | (k % 2 == 0 ? v << 4 : v));
        k++;
    }
    return k == 32;
}
